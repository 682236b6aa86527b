"""Building a message, apart from sending it.

Every message is a text part and an HTML part, made by `alternative` with the email package's
compat32 classes (MIMEMultipart, MIMEText, Header): ~0.3 ms a message, where EmailMessage, whose
header registry parses every header it is given, took ~1.5–2.5 ms of each code request. The
result is the same on the wire: 7-bit (bodies quoted-printable in UTF-8, a non-ASCII subject as
an RFC 2047 word), CRLF lines once flattened by mail.outgoing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from html import escape
from zoneinfo import ZoneInfo

ACTION_WORDS = {"lock": "lock", "unlock": "unlock"}

UTF8_QP = Charset("utf-8")
UTF8_QP.header_encoding = QP
UTF8_QP.body_encoding = QP  # 7-bit, lines of at most 76 characters, readable in the raw mail


def alternative(*, subject: str, sender: str, to: list[str], text: str, html: str) -> Message:
    """`to`: addresses checked by mail.header_values (ASCII); `subject` may be any text."""
    msg = MIMEMultipart("alternative")
    subject = " ".join(subject.split())  # one line whatever it holds
    msg["Subject"] = subject if subject.isascii() else Header(subject, UTF8_QP)  # type: ignore[assignment]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg.attach(MIMEText(text, "plain", UTF8_QP))  # type: ignore[arg-type]
    msg.attach(MIMEText(html, "html", UTF8_QP))  # type: ignore[arg-type]
    return msg


def code_message(
    *,
    sender: str,
    to: list[str],
    door_name: str,
    action: str,
    code: str,
    expires_at: datetime,
    asked_by: str | None = None,
) -> Message:
    """`asked_by`: the name of the person who typed their number (the mail goes to them alone)."""
    expiry = expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    who = f"{asked_by} (your number)" if asked_by else "Someone"
    return alternative(
        subject=f"Smart Door: code to {action} {door_name}",
        sender=sender,
        to=to,
        text=(
            f'{who} asked to {action} the door "{door_name}".\n\n'
            f"Code: {code}\n\n"
            f"Type it on the door's keypad before {expiry}. It works once.\n"
            "If this was not you, do not share the code; nothing happens without it.\n"
        ),
        html=(
            f"<p>{escape(who)} asked to <b>{escape(action)}</b> the door <b>{escape(door_name)}</b>.</p>"
            f'<p style="font-size:28px;letter-spacing:6px;font-family:monospace"><b>{escape(code)}</b></p>'
            f"<p>Type it on the door's keypad before <b>{escape(expiry)}</b>. It works once.</p>"
            "<p>If this was not you, do not share the code; nothing happens without it.</p>"
        ),
    )


def lockout_message(
    *, sender: str, to: list[str], door_name: str, failures: int, wait_seconds: int, now: datetime
) -> Message:
    text = (
        f'The door "{door_name}" refused {failures} wrong codes in a row '
        f"(last at {now.strftime('%Y-%m-%d %H:%M:%S UTC')}).\n"
        f"It accepts no code for {wait_seconds} s; waits grow with further failures, "
        "and an administrator must clear a hard lockout (smartdoor door clear-lockout).\n"
    )
    return alternative(
        subject=f"Smart Door: {door_name} locked out after wrong codes", sender=sender, to=to, text=text,
        html="<p>" + escape(text).replace("\n", "<br>") + "</p>",
    )  # fmt: skip


HOW_WORDS = {
    "code": "with a code",
    "offline_code": "with an offline code (the door could not reach the server)",
    "exit_button": "with the exit button, from inside",
    "remote": "remotely",
}


@dataclass(frozen=True)
class UnlockLine:
    """One unlock to tell a door's watchers about: when by the door's clock, how, by whom."""

    when: str  # e.g. "2026-03-29 09:12:05 CEST"
    how: str  # a key of HOW_WORDS
    who: str | None  # a person's name, an offline credential's label, or None when unknown


def local_time(at: datetime, tz_name: str) -> str:
    """An instant as the door's clock shows it, with the zone's abbreviation."""
    return at.astimezone(ZoneInfo(tz_name)).strftime("%Y-%m-%d %H:%M:%S %Z")


def unlock_message(*, sender: str, to: list[str], door_name: str, tz_name: str, unlocks: list[UnlockLine]) -> Message:
    """Tells the door's watchers who unlocked it, when and how. Holds no code: a watcher learns
    that the door opened, never how to open it."""
    lines = [f"{u.when}: unlocked {HOW_WORDS.get(u.how, u.how)}" + (f" by {u.who}" if u.who else "") for u in unlocks]
    first = unlocks[0]
    if len(unlocks) == 1:
        subject = f"Smart Door: {door_name} unlocked" + (f" by {first.who}" if first.who else "")
    else:
        subject = f"Smart Door: {door_name} unlocked {len(unlocks)} times"
    text = (
        f'The door "{door_name}" was unlocked (times are the door\'s, {tz_name}):\n\n'
        + "\n".join(lines)
        + ("\n\nYou get this because you watch this door.\n")
    )
    return alternative(
        subject=subject, sender=sender, to=to, text=text, html="<p>" + escape(text).replace("\n", "<br>") + "</p>"
    )
