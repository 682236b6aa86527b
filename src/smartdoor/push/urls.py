"""A person's push URL: checked when it is given, sealed at rest, opened to send.

An apprise URL carries the channel's credentials (a bot token, a topic only its owner knows,
an API key), so it is handled like a door secret: sealed with the keyring (AES-GCM under a key
derived from SECRET_KEY, the person's id bound in as associated data), never echoed, and shown
only as the name of its service (`push_service`, e.g. "Telegram (tgram://…)")."""

from __future__ import annotations

from bson.binary import Binary

from smartdoor.crypto import Keyring
from smartdoor.errors import InvalidInput

MAX_URL = 2048
DELIVERIES = ("email", "push", "both")  # where a person's codes and notices go


def associated(person_id: str) -> str:
    """What a person's sealed URL is bound to: it opens only in that person's record."""
    return f"push:{person_id}"


def check_push_url(url: str) -> str:
    """The service's label for a URL apprise can send to, else InvalidInput. The message never
    quotes the URL: it may hold a token."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("a push URL is needed")
    url = url.strip()
    if len(url) > MAX_URL or not url.isprintable() or any(c.isspace() for c in url) or "://" not in url:
        raise InvalidInput(f"a push URL is one apprise URL such as ntfy://topic, at most {MAX_URL} characters")
    import apprise  # here: its import costs most CLI commands, which never check a URL, ~0.7 s

    try:
        channel = apprise.Apprise.instantiate(url)
    except Exception:  # a plugin that chokes on odd input: the same refusal
        channel = None
    scheme = url.split("://", 1)[0].lower()
    if channel is None:
        raise InvalidInput(f"apprise does not understand this push URL (scheme {scheme[:20]!r}): see the README")
    return f"{channel.service_name} ({scheme}://…)"


def seal(keyring: Keyring, person_id: str, url: str) -> Binary:
    return Binary(keyring.seal(associated(person_id), url.strip().encode()))


def open_url(keyring: Keyring, person_id: str, sealed: bytes) -> str:
    """crypto.Unsealable when sealed under a key the keyring does not hold."""
    return keyring.open(associated(person_id), bytes(sealed)).decode()


def clean_delivery(delivery: str) -> str:
    if delivery not in DELIVERIES:
        raise InvalidInput("delivery is " + ", ".join(DELIVERIES))
    return delivery


def wants_mail(person) -> bool:
    return person.get("delivery", "email") != "push" or not person.get("push_url")


def wants_push(person) -> bool:
    return person.get("delivery", "email") in ("push", "both") and bool(person.get("push_url"))
