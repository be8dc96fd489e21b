#!/usr/bin/env python
"""Memory of a local ``moodchat serve --ray``: the RSS of every process it started.

Starts ``moodchat serve --ray --replicas N --threads 1`` on a free loopback port, waits for
``/healthz``, sends a few sentiment requests, then lists the RSS of each process that was
not running before (replicas, front, Serve controller and proxy, Ray's head processes) and
their sum, and stops the server with SIGINT. RSS counts shared pages in every process, so
the sum is an upper bound. Needs the ray extra. Usage:

    python scripts/ray_footprint.py [--replicas 1]
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import time

import httpx
import psutil


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 300) -> None:
    """Wait until ``/healthz`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("the server did not become ready")


def new_processes(before: set[int]) -> list[tuple[float, str]]:
    """(RSS MiB, command line) of every process not in ``before``, largest first."""
    rows = []
    for p in psutil.process_iter(["pid", "cmdline", "memory_info"]):
        if p.pid in before or p.info["memory_info"] is None:
            continue
        rows.append((p.info["memory_info"].rss / 2**20, " ".join(p.info["cmdline"] or [])[:90]))
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1)
    args = parser.parse_args()
    before = {p.pid for p in psutil.process_iter()}
    port = free_port()
    cmd = ["moodchat", "serve", "--ray", f"--replicas={args.replicas}", "--threads=1"]
    server = subprocess.Popen([*cmd, f"--port={port}"], stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        for text in ("I passed my exam!", "My phone broke again.", "好累"):
            httpx.post(f"{url}/v1/sentiment", json={"text": text}, timeout=60)
        time.sleep(3)
        rows = new_processes(before)
        for rss, line in rows:
            print(f"{rss:8.1f} MiB  {line}")
        print(f"total {sum(r for r, _ in rows):.1f} MiB over {len(rows)} processes")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(180)


if __name__ == "__main__":
    main()
