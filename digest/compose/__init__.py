"""Compose: each due subscriber's digest chosen, rendered and queued in the outbox.

    schedule.py   when a subscriber's digest is due (local send time, cadence, DST)
    select.py     the window's papers, ranked for a group of subscribers
    views.py      what the templates show (DigestView, PaperView, why-lines), filled here
    render.py     Jinja2 HTML + text, CSS inlined, templates compiled once
    message.py    the MIME message and its list headers
    digests.py    compose_due / preview_digest: the stage itself
"""
