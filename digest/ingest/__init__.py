"""Ingest: poll sources (plan the requests, fetch politely, parse purely) and store new papers.

    sources/   one module per source type: its config, its request plan, its pure parser
    fetch.py   the shared, polite HTTP client
    plan.py    a source's config -> the bodies to parse (HTTP pages or a local file)
    poll.py    fetch -> parse -> store for every due source, each failing alone
"""
