"""Building a push message, apart from sending it: a title and a short plain text, the same
facts as the matching mail (smartdoor.mail.message) and no more. Only a code's own message
holds its code; notices never do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smartdoor.mail.message import HOW_WORDS, UnlockLine


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str


def code_push(*, door_name: str, action: str, code: str, expires_at: datetime, asked_by: str | None) -> PushMessage:
    who = f"{asked_by} (your number)" if asked_by else "Someone"
    return PushMessage(
        title=f"Code to {action} {door_name}",
        body=(
            f"{code}\n"
            f'{who} asked to {action} "{door_name}". Type it on the keypad before '
            f"{expires_at.strftime('%H:%M:%S UTC')}; it works once. Not you? Do not share it."
        ),
    )


def unlock_push(*, door_name: str, tz_name: str, unlocks: list[UnlockLine]) -> PushMessage:
    lines = [f"{u.when}: {HOW_WORDS.get(u.how, u.how)}" + (f" by {u.who}" if u.who else "") for u in unlocks]
    first = unlocks[0]
    if len(unlocks) == 1:
        title = f"{door_name} unlocked" + (f" by {first.who}" if first.who else "")
    else:
        title = f"{door_name} unlocked {len(unlocks)} times"
    return PushMessage(title=title, body="\n".join(lines) + f"\n(the door's time, {tz_name}; you watch this door)")


def lockout_push(*, door_name: str, failures: int, wait_seconds: int, now: datetime) -> PushMessage:
    return PushMessage(
        title=f"{door_name} locked out",
        body=(
            f"{failures} wrong codes in a row (last at {now.strftime('%Y-%m-%d %H:%M:%S UTC')}). "
            f"No code accepted for {wait_seconds} s."
        ),
    )
