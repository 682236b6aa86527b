from datetime import UTC, datetime, timedelta

from smartdoor.doors.lockout_memory import LockoutMemory
from smartdoor.errors import LockedOut
from smartdoor.otp.codes import generate_code, is_code_format

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DOOR = {"_id": "d1"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_remembered_until_the_lockout_ends():
    memory = LockoutMemory(ttl_seconds=1)
    memory.remember(DOOR, LockedOut(retry_after=30), T0)
    assert memory.door("d1", at(0.5)) is DOOR
    refusal = memory.refuse("d1", at(0.5))
    assert refusal.retry_after == 30 and refusal.reason == "locked_out"
    assert memory.door("d1", at(30)) is None  # over
    assert memory.door("other", at(0.5)) is None


def test_one_request_rechecks_after_the_ttl_the_others_stay_refused():
    memory = LockoutMemory(ttl_seconds=1)
    memory.remember(DOOR, LockedOut(retry_after=3600, hard=True), T0)
    assert memory.door("d1", at(1.5)) is None  # this one goes to the database
    assert memory.door("d1", at(1.6)) is DOOR  # the others meanwhile do not
    memory.forget("d1")  # the database said: not locked any more
    assert memory.door("d1", at(1.7)) is None


def test_rejections_counted_and_reset():
    memory = LockoutMemory()
    memory.remember(DOOR, LockedOut(retry_after=30), T0)
    for _ in range(3):
        memory.refuse("d1", T0)
    assert memory.take_rejections("d1") == 3
    assert memory.take_rejections("d1") == 0
    memory.remember(DOOR, LockedOut(retry_after=30), T0)
    assert memory.take_rejections("unknown") == 0


def test_code_generation():
    codes = {generate_code(6) for _ in range(2000)}
    assert all(is_code_format(c, 6) for c in codes) and len(codes) > 1900
    assert all(len(generate_code(n)) == n for n in range(4, 11))
    assert not is_code_format("12345", 6) and not is_code_format("١٢٣٤٥٦", 6) and not is_code_format(123456, 6)
