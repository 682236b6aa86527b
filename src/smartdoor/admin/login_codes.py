"""The e-mail fallback for the second factor: a one-time code mailed to the person, built on
the door codes' rules. Codes come from otp.codes (secrets), only an HMAC bound to a random id
is kept (in the pending session), each code allows MAX_ATTEMPTS checks, each counted before it
is compared, and a person gets at most MAILS_PER_WINDOW codes per WINDOW whatever the number of
sessions asking. An e-mailed code is a weak factor (see the README): prefer a passkey."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

from pymongo.errors import DuplicateKeyError

from smartdoor.crypto import code_hash
from smartdoor.errors import CodeRejected, RateLimited, Unavailable
from smartdoor.otp.codes import generate_code, is_code_format, matches, new_challenge_id
from smartdoor.store.database import Database

DIGITS = 8
LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAILS_PER_WINDOW = 3
WINDOW = timedelta(minutes=15)
MAX_RACES = 50


def mail_key(person_id: str) -> str:
    return "mail:" + person_id


async def count_mail(db: Database, *, person_id: str, now: datetime) -> None:
    """Counts one code mail for the person, or raises RateLimited; revision-checked."""
    key = mail_key(person_id)
    for _ in range(MAX_RACES):
        record = await db.login_limits.find_one({"_id": key})
        recent = [t for t in (record or {}).get("sent", []) if t > now - WINDOW]
        if len(recent) >= MAILS_PER_WINDOW:
            wait = int((min(recent) + WINDOW - now).total_seconds()) + 1
            raise RateLimited(retry_after=max(1, wait))
        fields = {"sent": [*recent, now], "purge_at": now + WINDOW}
        if record is None:
            try:
                await db.login_limits.insert_one({"_id": key, "rev": 1, **fields})
                return
            except DuplicateKeyError:
                continue
        result = await db.login_limits.update_one(
            {"_id": key, "rev": record["rev"]}, {"$set": fields, "$inc": {"rev": 1}}
        )
        if result.modified_count:
            return
    raise RateLimited(retry_after=1)


def new_code(key: bytes, *, now: datetime) -> tuple[str, dict]:
    """A code and what the session keeps of it (never the code)."""
    code = generate_code(DIGITS)
    code_id = new_challenge_id()
    return code, {"id": code_id, "hash": code_hash(key, code_id, code), "attempts": 0, "expires_at": now + LIFETIME}


def message(*, sender: str, to: str, code: str, expires_at: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Smart Door: your login code"
    msg["From"] = sender
    msg["To"] = to
    msg.set_content(
        "Someone (you, we hope) entered your password on the Smart Door admin pages.\n\n"
        f"Login code: {code}\n\n"
        f"It works once, until {expires_at.strftime('%Y-%m-%d %H:%M UTC')}.\n"
        "If this was not you, change your password: whoever it was knows it.\n"
    )
    return msg


async def send(mailer, *, sender: str, to: str, code: str, expires_at: datetime) -> None:
    failed = await mailer.send(message(sender=sender, to=to, code=code, expires_at=expires_at))
    if failed:
        raise Unavailable("the code could not be mailed; try again or use a passkey", reason="mail_failed")


async def check(db: Database, *, session_id: str, code: object, key: bytes, now: datetime) -> None:
    """Counts the attempt on the session's code, then compares; raises CodeRejected unless right."""
    session = await db.admin_sessions.find_one({"_id": session_id}, {"mail_code": 1})
    pending = (session or {}).get("mail_code")
    if not pending:
        raise CodeRejected("no code was sent: ask for one", reason="no_code")
    if pending["expires_at"] <= now:
        raise CodeRejected("this code has expired: ask for a new one", reason="expired")
    counted = await db.admin_sessions.update_one(
        {"_id": session_id, "mail_code.id": pending["id"], "mail_code.attempts": {"$lt": MAX_ATTEMPTS}},
        {"$inc": {"mail_code.attempts": 1}},
    )
    if not counted.modified_count:
        raise CodeRejected("too many wrong codes: ask for a new one", reason="burned")
    typed = code.strip() if isinstance(code, str) else ""
    if not is_code_format(typed, DIGITS) or not matches(
        [key], challenge_id=pending["id"], code=typed, stored_hash=pending["hash"]
    ):
        left = MAX_ATTEMPTS - pending["attempts"] - 1
        raise CodeRejected("wrong code", reason="wrong_code", attempts_left=max(0, left))
    used = await db.admin_sessions.update_one(  # used once: of two racing right answers, one wins
        {"_id": session_id, "mail_code.id": pending["id"]}, {"$set": {"mail_code": None}}
    )
    if not used.modified_count:
        raise CodeRejected("this code was used already", reason="used")
