"""Mail that is retried, not lost: a mail the relay does not take at once (a code, a watcher's
or a lockout notice) is kept sealed in the `outbox` collection until it is delivered or given
up. A code's first attempt is made before the door's reply and its mail stored only when that
attempt failed; a notice is stored while its first attempt is made. Retries are made with
backoff by whichever backend process claims the mail first (a conditional update and a lease),
until the code expires or, for a notice, for an hour. See service.py for the rules."""
