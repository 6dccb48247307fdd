"""The benchmarks' SMTP sink (aiosmtpd) in its own process, and the helpers that run it.

`python bench/smtp_sink.py PORT [DELAY_SECONDS]` accepts every message (after DELAY, like a
remote MTA), and on SIGTERM prints every acceptance as JSON: [[time.time(), client port], ...].
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from aiosmtpd.controller import Controller


class Sink:
    """Answers each DATA after `delay` seconds; notes when, and on which connection."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.accepted: list[tuple[float, int]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.accepted.append((time.time(), int(session.peer[1])))
        return "250 OK"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink(port: int, delay: float = 0.0) -> subprocess.Popen[str]:
    """The sink in its own process (its own GIL and core), once it listens."""
    proc = subprocess.Popen([sys.executable, __file__, str(port), str(delay)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def stop_sink(proc: subprocess.Popen[str]) -> list[tuple[float, int]]:
    """Stop the sink; every acceptance as (time, client port)."""
    proc.terminate()
    out, _ = proc.communicate(timeout=60)
    return [(float(t), int(p)) for t, p in json.loads(out.strip().splitlines()[-1])]


def main() -> None:
    """Serve until SIGTERM, then print every acceptance."""
    sink = Sink(float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
    controller = Controller(sink, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()
    print(json.dumps(sink.accepted), flush=True)


if __name__ == "__main__":
    main()
