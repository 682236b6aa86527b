"""The receiver's signature check exactly as the README shows it: the code block is read from
README.md and run, so the documented example is the one the tests rely on."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def load() -> Callable:
    text = README.read_text()
    block = re.search(r"```python\n(# verify_smartdoor_webhook.*?)```", text, re.S)
    assert block, "the README's webhook verification example is missing"
    scope: dict = {}
    exec(compile(block.group(1), "README.md (webhook receiver example)", "exec"), scope)
    return scope["verify_smartdoor_webhook"]


verify_smartdoor_webhook = load()
