"""The image's HEALTHCHECK: GET /healthz on the port named by the config the daemon runs with.

The config path comes from the running `digest run -c FILE` process (PID 1, or any process when an
init runs first); the port and host from that file's `daemon:` section. Exit 0 when /healthz answers
200, else 1 with the reason (shown by `docker inspect`), including when `daemon.http_port` is off.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml


def daemon_config() -> Path | None:
    """The -c/--config path of the running `digest run`, resolved against its working directory."""
    pids = ["1"] + sorted(p.name for p in Path("/proc").iterdir() if p.name.isdigit() and p.name != "1")
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            cwd = Path(f"/proc/{pid}").joinpath("cwd").readlink()
        except OSError:
            continue
        if "run" not in argv or not any(a.endswith("digest") for a in argv[:2]):
            continue
        for n, arg in enumerate(argv):
            if arg in ("-c", "--config") and n + 1 < len(argv):
                return cwd / argv[n + 1]
            if arg.startswith("--config="):
                return cwd / arg.removeprefix("--config=")
    return None


def main() -> int:
    path = daemon_config()
    if path is None:
        print("unhealthy: no `digest run -c FILE` process in this container")
        return 1
    try:
        daemon = (yaml.safe_load(path.read_text()) or {}).get("daemon") or {}
    except (OSError, yaml.YAMLError) as exc:
        print(f"unhealthy: cannot read {path}: {exc}")
        return 1
    port, host = daemon.get("http_port"), str(daemon.get("http_host") or "127.0.0.1")
    if not port:
        print(f"unhealthy: daemon.http_port is off in {path}; set it (e.g. 8080) to serve /healthz")
        return 1
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=8) as answer:
            print(answer.read(500).decode(errors="replace"))
            return 0 if answer.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code}: {exc.read(500).decode(errors='replace')}")
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
