"""Mail that is retried, not lost: every message (a code, a watcher's or a lockout notice) is
kept sealed in the `outbox` collection until it is delivered or given up. The first attempt is
made at once by the process that wrote it (before the door's reply, for a code); a failed one is
retried with backoff by whichever backend process claims it first (a conditional update and a
lease), until the code expires or, for a notice, for an hour. See service.py for the rules."""
