"""Deliver: claim queued digests, hand them to a Mailer, record each outcome.

    outbox.py    the delivery loop (claim, send, mark sent only after acceptance)
    mailer.py    the Mailer interface and the configured transport
    smtp.py      SMTP: one reused connection, STARTTLS / TLS / plain, 4xx retry, 5xx fail
    files.py     .eml files and an index page (no mail server needed)
    memory.py    in memory, for tests
"""
