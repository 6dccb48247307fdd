"""Child processes that compose chunks of subscribers, so that compose uses every core while
the parent delivers (the parent's event loop and the compose thread share one interpreter
lock otherwise).

Each worker is a spawned process (a clean interpreter: nothing of the parent's threads,
sockets or database connections) that opens its own engine and runs one job at a time. A
worker that dies fails only its own job, which the caller records; a new worker takes its
place. Workers die with the parent: on Linux the kernel kills them when the thread that
started them ends (PR_SET_PDEATHSIG), and an idle worker ends when its pipe closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from digest.config import Config
from digest.rank import score, stored
from digest.storage.db import make_engine

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
M_ARENA_MAX = -8
STOP_GRACE = 5.0  # seconds a worker gets to finish after being asked to stop


@dataclass
class Outcome:
    """What one job came to: its value, or why it failed (`connection`: the database was
    unreachable, which stops the whole cycle as it does in-process)."""

    tag: Any
    value: Any = None
    failure: str = ""
    connection: bool = False


class _Records(logging.handlers.QueueHandler):
    """Keeps a job's log records (made picklable) to send back with its outcome."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        super().__init__(self)  # type: ignore[arg-type]  # put_nowait below is its queue

    def put_nowait(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):  # Linux only; elsewhere the pipe's EOF
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _lean_malloc() -> None:
    """glibc: at most two malloc arenas (the ranker's threads otherwise each keep their own
    partly used 64 MiB arena)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)


def give_back_memory() -> None:
    """glibc: return the memory a finished job freed to the system."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _serve(conn: Connection, config: Config, target: Callable[..., Any], level: int,
           parent: int) -> None:
    """A worker's life: run each job it is sent until told to stop (None) or the pipe closes."""
    _die_with_parent()
    _lean_malloc()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return
    score.THREADS = 1  # the parallelism is the processes'; one ranking thread: half the memory
    stored.STORED_ONLY = True  # the parent stored the vectors: a worker never loads the model
    records = _Records()
    root = logging.getLogger()
    root.handlers[:] = [records]
    root.setLevel(level)
    engine = make_engine(config.database)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            out: tuple[str, Any] = ("ok", target(engine, config, *job))
        except (OperationalError, InterfaceError) as exc:
            out = ("connection", f"{exc.__class__.__name__}: {exc}")
        except Exception as exc:  # the job fails, the worker goes on
            log.error("compose job failed in worker %s:\n%s", os.getpid(),
                      "".join(traceback.format_exception(exc)))
            out = ("failed", repr(exc))
        sent, records.records = records.records, []
        conn.send((*out, sent))
        del out, sent
        give_back_memory()


class Workers:
    """`count` worker processes running `target(engine, config, *job)`, one job each at a time.

    `submit` gives a job to an idle worker; `wait` returns the outcomes of the jobs that ended
    (a worker that died gives its job's failure and is replaced)."""

    def __init__(self, config: Config, count: int, target: Callable[..., Any]) -> None:
        self.config, self.target = config, target
        self.context = multiprocessing.get_context("spawn")
        self.idle: list[tuple[BaseProcess, Connection]] = []
        self.busy: dict[Connection, tuple[BaseProcess, Any]] = {}
        for _ in range(count):
            self.idle.append(self._start())

    def _start(self) -> tuple[BaseProcess, Connection]:
        ours, theirs = self.context.Pipe()
        process = self.context.Process(
            target=_serve, name="digest-compose", daemon=True,
            args=(theirs, self.config, self.target, logging.getLogger().getEffectiveLevel(),
                  multiprocessing.current_process().pid))
        process.start()
        theirs.close()
        return process, ours

    def submit(self, tag: Any, job: Sequence[Any]) -> None:
        """Send `job` to an idle worker (there must be one)."""
        process, conn = self.idle.pop()
        self.busy[conn] = (process, tag)
        conn.send(tuple(job))

    def wait(self) -> list[Outcome]:
        """Block until at least one busy worker ends its job; their outcomes."""
        out = []
        for conn in wait(list(self.busy)):
            assert isinstance(conn, Connection)
            process, tag = self.busy.pop(conn)
            try:
                kind, value, records = conn.recv()
            except (EOFError, OSError):  # the worker died: this job fails, a new worker goes on
                process.join(STOP_GRACE)
                log.error("a compose worker died (exit code %s); its chunk fails",
                          process.exitcode)
                out.append(Outcome(tag, failure=f"the compose worker process died "
                                               f"(exit code {process.exitcode})"))
                conn.close()
                self.idle.append(self._start())
                continue
            for record in records:
                logging.getLogger(record.name).handle(record)
            self.idle.append((process, conn))
            if kind == "ok":
                out.append(Outcome(tag, value))
            else:
                out.append(Outcome(tag, failure=value, connection=kind == "connection"))
        return out

    def close(self) -> None:
        """Stop every worker: idle ones are asked to, busy ones (abandoned jobs) killed."""
        for _, conn in self.idle:
            with contextlib.suppress(OSError):
                conn.send(None)
        for process, _ in self.busy.values():
            process.kill()
        for process, conn in [*self.idle, *((p, c) for c, (p, _) in self.busy.items())]:
            process.join(STOP_GRACE)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self.idle, self.busy = [], {}

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
