"""Building a message, apart from sending it."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from html import escape

ACTION_WORDS = {"lock": "lock", "unlock": "unlock"}


def code_message(
    *, sender: str, to: list[str], door_name: str, action: str, code: str, expires_at: datetime
) -> EmailMessage:
    expiry = expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    msg = EmailMessage()
    msg["Subject"] = f"Smart Door: code to {action} {door_name}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg.set_content(
        f'Someone asked to {action} the door "{door_name}".\n\n'
        f"Code: {code}\n\n"
        f"Type it on the door's keypad before {expiry}. It works once.\n"
        "If this was not you, do not share the code; nothing happens without it.\n"
    )
    msg.add_alternative(
        f"<p>Someone asked to <b>{escape(action)}</b> the door <b>{escape(door_name)}</b>.</p>"
        f'<p style="font-size:28px;letter-spacing:6px;font-family:monospace"><b>{escape(code)}</b></p>'
        f"<p>Type it on the door's keypad before <b>{escape(expiry)}</b>. It works once.</p>"
        "<p>If this was not you, do not share the code; nothing happens without it.</p>",
        subtype="html",
    )
    return msg


def lockout_message(
    *, sender: str, to: list[str], door_name: str, failures: int, wait_seconds: int, now: datetime
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"Smart Door: {door_name} locked out after wrong codes"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    text = (
        f'The door "{door_name}" refused {failures} wrong codes in a row '
        f"(last at {now.strftime('%Y-%m-%d %H:%M:%S UTC')}).\n"
        f"It accepts no code for {wait_seconds} s; waits grow with further failures, "
        "and an administrator must clear a hard lockout (smartdoor door clear-lockout).\n"
    )
    msg.set_content(text)
    msg.add_alternative("<p>" + escape(text).replace("\n", "<br>") + "</p>", subtype="html")
    return msg
