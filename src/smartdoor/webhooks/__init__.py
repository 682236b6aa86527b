"""Webhooks: door events (unlock, refusal, lockout, door offline) as JSON to the URLs in
WEBHOOK_URLS, signed with RFC 9421 (hmac-sha256 under WEBHOOK_SECRET, signature.py), each
delivery kept in the outbox and retried with backoff until the receiver answers 2xx or it is
given up. The events come from the audit: the audit tap tells service.py of every event this
process writes (events.py picks and shapes them), and offline_watch.py writes `door_offline`
when a door stops reporting. Off, and free, unless WEBHOOK_URLS is set."""
