"""Input that once made a 500: a huge `created`, deeply nested JSON, a door name or recipient
that cannot go into a mail header. Each now gets a clear 4xx JSON error and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smartdoor.doors.service import create_door
from smartdoor.errors import InvalidInput
from smartdoor.mail.header_values import HeaderValueError, check_address, check_door_name
from smartdoor.settings import Settings
from smartdoor.signing.server import SignedParams, is_fresh

REQUEST = "/api/v1/otp/request"
DEVICE_PATHS = ["/api/v1/otp/request", "/api/v1/otp/verify", "/api/v1/state"]


async def nothing_changed(h) -> bool:
    return (
        await h.db.doors.count_documents({"pending": {"$ne": None}}) == 0
        and not h.sink.messages()
        and await h.db.doors.count_documents({"state": {"$ne": None}}) == 0
    )


# --- a signed request's `created` ---


@pytest.mark.parametrize("created", [10**400, -(10**400), 10**15, 10**16], ids=["1e400", "-1e400", "1e15", "1e16"])
async def test_created_out_of_range_is_a_401_not_a_500(harness, created):
    """Signed with the right key: the number itself must be refused before any arithmetic."""
    device = await harness.add_door()
    r = await device.request_code(created=created, check_reply=False)
    assert r.status_code == 401 and r.headers["content-type"] == "application/json"
    assert r.json()["error"] in ("bad_signature", "stale_request")
    assert await nothing_changed(harness)


def test_freshness_check_never_overflows():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for created in (10**400, -(10**400)):
        params = SignedParams(keyid="d1", created=created, nonce="n" * 32, raw="", signature=b"")
        assert not is_fresh(params, now=now, skew_seconds=300)
    fresh = SignedParams(keyid="d1", created=int(now.timestamp()) + 300, nonce="n" * 32, raw="", signature=b"")
    assert is_fresh(fresh, now=now, skew_seconds=300)  # the edge of the window is inside


# --- deeply nested JSON ---

NESTED = [b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000 + b"1" + b"}" * 2000, b"[" * 33 + b"]" * 33]


@pytest.mark.parametrize("path", DEVICE_PATHS)
@pytest.mark.parametrize("body", NESTED, ids=["arrays", "objects", "depth-33"])
async def test_deeply_nested_json_on_device_routes_is_a_signed_400(harness, path, body):
    device = await harness.add_door()
    r = await device.post(path, raw=body)  # validly signed request: the 400 is signed too
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert "nested" in r.json()["message"]
    assert await nothing_changed(harness)


async def test_nesting_within_the_limit_and_brackets_in_strings_still_parse(harness):
    device = await harness.add_door()
    r = await device.post("/api/v1/state", raw=b'{"state": "locked", "firmware": "' + b"[" * 60 + b'"}')
    assert r.status_code == 200
    r = await device.post(REQUEST, raw=b'{"action": ' + b"[" * 31 + b"]" * 31 + b"}")  # depth 32
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"


@pytest.mark.parametrize("path", ["/send-otp", "/verify-otp"])
@pytest.mark.parametrize("body", NESTED[:2], ids=["arrays", "objects"])
async def test_deeply_nested_json_on_legacy_routes_is_a_400(make_harness, path, body):
    async with make_harness(legacy_api=True, legacy_allowed_clients="192.0.2.7") as h:  # the harness's client
        r = await h.http.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.headers["content-type"] == "application/json"
        assert await nothing_changed(h)


async def test_an_integer_the_database_cannot_store_is_a_422(harness):
    """Found by the schemathesis run: an uptime of 2**63 made the driver raise OverflowError."""
    device = await harness.add_door()
    r = await device.post("/api/v1/state", {"state": "locked", "uptime": 2**63})
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    assert await nothing_changed(harness)
    assert (await device.post("/api/v1/state", {"state": "locked", "uptime": 2**63 - 1})).status_code == 200


async def test_a_time_a_datetime_cannot_hold_is_a_422(harness):
    """Found by the schemathesis run: an offline use `at` 2**40 - 1 made datetime raise ValueError."""
    device = await harness.add_door()
    use = {"credential": "c1", "step": 1, "at": 2**40 - 1, "action": "unlock"}
    r = await device.post("/api/v1/offline/uses", {"uses": [use]})
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    assert await harness.audit(event="offline_use", outcome="success") == []


# --- what goes into a mail header ---

BAD_ADDRESSES = [
    "alice@example.com\r\nBcc: mallory@example.net",
    "alice@example.com\nBcc: mallory@example.net",
    "alice@exa\rmple.com",
    "alice@exa\x00mple.com",
    "alice\u2028@example.com",
    "alice@example.com, bob@example.com",
    "Alice <alice@example.com>",
    "alice(x)@example.com",
    '"a b"@example.com',
    "alice@",
    "@example.com",
    "alice@@example.com",
    "alice@example..com",
    "alice@-example.com",
    ".alice@example.com",
    "jörg@example.de",
    "a" * 65 + "@example.com",
    "a@" + "b" * 250 + ".com",
    "not-an-email",
    "",
]
BAD_NAMES = ["Front\r\nBcc: mallory@example.net", "Front\ndoor", "Front\x00", "Front\u200bdoor", "", "   ", "x" * 65]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_address_check_refuses(address):
    with pytest.raises(HeaderValueError) as refused:
        check_address(address)
    assert "\n" not in str(refused.value) and "\r" not in str(refused.value)


@pytest.mark.parametrize(
    "address", ["alice@example.com", "a.b+door@mail.example.co.uk", "root@localhost", "x@xn--bcher-kva.example"]
)
def test_address_check_accepts(address):
    assert check_address(" " + address + " ") == address


@pytest.mark.parametrize("name", BAD_NAMES)
def test_door_name_check_refuses(name):
    with pytest.raises(HeaderValueError):
        check_door_name(name)


def test_door_name_check_accepts_printable_names():
    assert check_door_name("  Küche – Hintertür #2 ") == "Küche – Hintertür #2"
    assert check_door_name("x" * 64) == "x" * 64


@pytest.mark.parametrize(
    "name, recipient", [*((n, "alice@example.com") for n in BAD_NAMES), *(("Front", a) for a in BAD_ADDRESSES)]
)
async def test_create_door_refuses_what_cannot_go_into_a_mail_header(harness, name, recipient):
    with pytest.raises(InvalidInput) as refused:
        await create_door(
            harness.db,
            harness.settings.keyring(),
            name=name,
            recipients=[recipient],
            now=harness.clock.now(),
        )
    assert "\n" not in refused.value.message and "\r" not in refused.value.message
    assert await harness.db.doors.count_documents({}) == 0


async def test_a_door_that_was_accepted_gets_its_mail(harness):
    """The checks let ordinary names and addresses through, and the code request works."""
    device = await harness.add_door(name="Küche – Hintertür", recipients=("a.b+door@example.com",))
    r = await device.request_code()
    assert r.status_code == 200 and r.json()["status"] == "success"
    assert harness.sink.wait_for(1)[0]["to"] == ["a.b+door@example.com"]


@pytest.mark.parametrize(
    "values, setting",
    [
        ({"recipients": "alice@example.com,bob@example.com\r\nBcc: mallory@example.net"}, "RECIPIENTS"),
        ({"recipients": "alice@example.com, not-an-email"}, "RECIPIENTS"),
        ({"legacy_door": "legacy\r\nBcc: mallory@example.net"}, "LEGACY_DOOR"),
    ],
)
def test_settings_refuse_header_breaking_values(tmp_path, values, setting):
    with pytest.raises(ValueError, match=setting):
        Settings(_env_file=None, secret_key="s" * 40, data_dir=tmp_path, **values)
    ok = Settings(_env_file=None, secret_key="s" * 40, data_dir=tmp_path, recipients=" a@example.com , b@example.com,")
    assert ok.recipient_list == ["a@example.com", "b@example.com"]
