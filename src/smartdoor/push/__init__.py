"""Push notifications through apprise: a person may give one apprise URL (ntfy, Telegram,
Pushover, …) and say whether their codes and notices go by e-mail, by push or both
(`Person.delivery`). The URL holds the channel's token, so it is a secret: sealed at rest
(urls.py), never in a log line, a reply or the audit, and shown masked. A message is built
apart from sending it (messages.py); sending runs off the event loop with a deadline
(sender.py); deliver.py ties the two to people and writes the audit."""
