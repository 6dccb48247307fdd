"""Ingest: poll the sources (plan the requests, fetch politely, parse purely), store new papers.

    fetch.py   the shared, polite HTTP client
    plan.py    a source's config -> the bodies to parse (HTTP pages or a local file)
    poll.py    fetch -> parse -> store for every due source, each failing alone
"""
