"""Structured logs to stderr: human by default, one JSON object per line with --log-json."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Libraries whose INFO lines narrate their own mechanics ("Added job", "Scheduler started",
# every HTTP request, every migration step): shown only at -v (debug).
NOISY = ("apscheduler", "httpx", "mail.log", "uvicorn.access", "alembic.runtime.migration")


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra}` per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as JSON."""
        doc = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(json_lines: bool = False, level: int = logging.INFO) -> None:
    """Route all logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else
                         logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = logging.WARNING if level > logging.DEBUG else logging.DEBUG  # -v shows them all
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(quiet)
