"""A webhook's RFC 9421 signature, made by the project's signing code and checked by the
README's receiver example (which shares no code with it): genuine deliveries verify; another
body, URL, key, time or label do not."""

from __future__ import annotations

import json

from smartdoor.webhooks import events, signature
from tests.backend.webhooks.readme_verifier import verify_smartdoor_webhook

KEY = b"w" * 40
URL = "https://hooks.example/smartdoor?token=abc"
BODY = json.dumps({"id": "wh_1", "type": "unlock"}).encode()
NOW = 1_795_677_125


def signed(**kw) -> dict:
    args = {"key": KEY, "url": URL, "body": BODY, "created": NOW} | kw
    return {k.lower(): v for k, v in signature.sign(**args).items()}


def test_a_genuine_delivery_verifies_with_the_readme_receiver():
    assert verify_smartdoor_webhook(KEY, URL, signed(), BODY, now=NOW + 30) == {"id": "wh_1", "type": "unlock"}
    headers = signed()
    assert headers["signature-input"].startswith('smartdoor=("@method" "@target-uri" "content-digest");created=')
    assert f'keyid="{signature.key_id(KEY)}"' in headers["signature-input"] and KEY.decode() not in str(headers)


def test_anything_changed_does_not_verify():
    headers = signed()
    assert verify_smartdoor_webhook(KEY, URL, headers, BODY.replace(b"unlock", b"lock__"), now=NOW) is None
    assert verify_smartdoor_webhook(KEY, "https://other.example/smartdoor?token=abc", headers, BODY, now=NOW) is None
    assert verify_smartdoor_webhook(b"x" * 40, URL, headers, BODY, now=NOW) is None
    assert verify_smartdoor_webhook(KEY, URL, headers, BODY, now=NOW + 301) is None  # a replay, later
    forged = {**headers, "content-digest": signed(body=b"{}")["content-digest"]}
    assert verify_smartdoor_webhook(KEY, URL, forged, b"{}", now=NOW) is None
    relabelled = {k: v.replace("smartdoor=", "sig1=", 1) for k, v in headers.items()}
    assert verify_smartdoor_webhook(KEY, URL, relabelled, BODY, now=NOW) is None


def test_which_audit_events_become_webhooks():
    def kind(**event):
        found = events.classify(event)
        return found and found[0]

    assert kind(event="verify", outcome="success", action="unlock") == "unlock"
    assert kind(event="verify", outcome="success", action="lock") is None  # locking is not an event here
    assert kind(event="exit_button", outcome="success", action="unlock") == "unlock"
    assert kind(event="remote_command", outcome="success", action="unlock", actor="cli") == "unlock"
    assert kind(event="remote_command", outcome="refused", action="unlock") is None
    assert kind(event="code_request", outcome="refused", reason="outside_schedule") == "refusal"
    assert kind(event="code_request", outcome="success") is None
    assert kind(event="wrong_code", outcome="failure") == "refusal"
    assert kind(event="verify", outcome="failure", reason="expired") == "refusal"
    assert kind(event="lockout", outcome="failure") == kind(event="hard_lockout", outcome="failure") == "lockout"
    assert kind(event="door_offline", outcome="info") == "door_offline"
    for quiet in ("mail_delivery", "push_delivery", "webhook_delivery", "state_report", "person_updated"):
        assert kind(event=quiet, outcome="success") is None
