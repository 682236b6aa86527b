"""A request body as JSON, refused (BadRequest: a 400) when it is not JSON or nested too deeply.
json.loads recurses once per level of nesting, so 16 KiB of "[" would end in a RecursionError
(a 500) without the depth check. No body of this API nests more than a few levels."""

from __future__ import annotations

import json
import re

from smartdoor.errors import BadRequest

MAX_DEPTH = 32
# the largest integer MongoDB stores (BSON int64): a bigger one from a client must be a 422,
# not the driver's OverflowError (a 500); every int field of a body that is stored needs le=INT64_MAX
INT64_MAX = 2**63 - 1
# the last second a datetime holds (9999-12-31T23:59:59Z): a later unix time from a client must
# be a 422, not datetime's ValueError (a 500)
MAX_UNIX_TIME = 253402300799
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)  # a JSON string, escapes included
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json_body(body: bytes) -> object:
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")  # what json.loads(bytes) accepts
    except UnicodeDecodeError:
        raise BadRequest("body is not JSON") from None
    opening = text.count("[") + text.count("{")  # the usual body has a handful: no scan needed
    if opening > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise BadRequest(f"body is JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except ValueError:
        raise BadRequest("body is not JSON") from None
