"""The daemon: `digest run` schedules polls and deliveries; the database holds the truth.

    run.py      the Daemon: scheduler jobs, signals, reload, catch-up, leadership
    health.py   GET /healthz (the container's health check) and the daemon's HTTP server
    logs.py     human or JSON-lines logs on stderr
"""
