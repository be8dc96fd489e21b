#!/usr/bin/env python
"""Bounded load test of a local ``moodchat serve``: chat and sentiment clients at once.

Contract: only loopback targets (127.0.0.0/8, localhost, ::1) are accepted; the run is
bounded by ``--duration`` (no new request starts after it; requests in flight finish) and
``--clients`` threads. With ``--spawn`` it starts ``moodchat serve`` on a free port, waits
for ``/healthz``, and stops it at the end; otherwise give ``--url`` and, for the memory
figure, ``--pid`` of the server (``--rss-match`` adds processes found by command line,
such as Ray Serve's replicas). It first measures idle sentiment latency (sequential
requests, nothing else running; half before and half after the load), then runs the
mixed load, and prints: counts per
(kind, status), sentiment and chat latency (median / p90), 5xx count, the server's peak
RSS (``VmHWM`` of /proc/<pid>/status), and exits 1 if any answer was a 5xx or anything
other than 200 / 429 / 503. ``--json FILE`` also writes the figures.

    python scripts/loadtest.py --spawn --duration 120
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx

MESSAGES = [
    "I failed my exam today and I feel like giving up.",
    "My sister had a baby this morning, I'm an aunt!",
    "Work has been exhausting and nobody notices what I do.",
    "We finally finished the garden, it looks wonderful.",
    "今天被老板批评了，心里很难受。",
    "周末和朋友去爬山，玩得特别开心！",
    "I can't sleep, I keep thinking about the argument we had.",
    "The concert last night was the best evening in months.",
]
ALLOWED = {200, 429, 503}


@dataclass
class Results:
    """Everything the clients observed (appended under a lock)."""

    statuses: Counter = field(default_factory=Counter)
    latency: dict[str, list[float]] = field(default_factory=lambda: {"sentiment": [], "chat": []})
    first_token: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, seconds: float, first: float | None = None) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1
            if status == 200:
                self.latency[kind].append(seconds)
                if first is not None:
                    self.first_token.append(first)


def check_loopback(url: str) -> None:
    """Refuse any target that is not this machine."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    sys.exit(f"refusing to load-test {host!r}: only 127.0.0.1 / localhost / ::1 are allowed")


def sentiment_call(c: httpx.Client, rng: random.Random, res: Results) -> int:
    start = time.perf_counter()
    r = c.post("/v1/sentiment", json={"text": rng.choice(MESSAGES)})
    res.add("sentiment", r.status_code, time.perf_counter() - start)
    return r.status_code


def chat_call(c: httpx.Client, rng: random.Random, res: Results, max_tokens: int | None) -> int:
    body = {"message": rng.choice(MESSAGES), "stream": True}
    if max_tokens:
        body["max_tokens"] = max_tokens
    start = time.perf_counter()
    first = None
    with c.stream("POST", "/v1/chat", json=body) as r:
        ok = r.status_code == 200
        for line in r.iter_lines():
            if first is None and line.startswith("event: token"):
                first = time.perf_counter() - start
            if line.startswith("event: error"):
                ok = False
        status = r.status_code if ok or r.status_code != 200 else 599  # error event
    res.add("chat", status, time.perf_counter() - start, first)
    return status


def client_loop(
    i: int, url: str, end: float, res: Results, chat_share: float, max_tokens: int | None
) -> None:
    rng = random.Random(i)
    with httpx.Client(base_url=url, timeout=600) as c:
        while time.monotonic() < end:
            try:
                if rng.random() < chat_share:
                    status = chat_call(c, rng, res, max_tokens)
                else:
                    status = sentiment_call(c, rng, res)
            except httpx.HTTPError as err:
                with res.lock:
                    res.errors.append(f"{type(err).__name__}: {err}")
                    res.statuses[("transport", 0)] += 1
                time.sleep(0.5)
                continue
            if status in (429, 503):
                time.sleep(1.0)  # back off as Retry-After asks (bounded)


def idle_sentiment(url: str, n: int) -> list[float]:
    """Latency of ``n`` sequential sentiment requests with nothing else running."""
    res = Results()
    rng = random.Random(99)
    with httpx.Client(base_url=url, timeout=600) as c:
        for _ in range(n):
            sentiment_call(c, rng, res)
    return res.latency["sentiment"]


def run_load(
    url: str,
    clients: int = 8,
    duration: float = 120,
    chat_share: float = 0.5,
    max_tokens: int | None = None,
) -> Results:
    """Run ``clients`` threads for ``duration`` seconds; return what they saw."""
    check_loopback(url)
    res = Results()
    end = time.monotonic() + duration
    threads = [
        threading.Thread(target=client_loop, args=(i, url, end, res, chat_share, max_tokens))
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return res


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


def peak_rss_mib(pid: int | None) -> float | None:
    """VmHWM (peak resident set) of ``pid`` in MiB."""
    if not pid:
        return None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def matching_pids(substring: str) -> list[int]:
    """Processes whose command line contains ``substring`` (Ray names its replicas so)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if substring in cmdline and "--rss-match" not in cmdline:
                found.append(int(entry))
    return sorted(found)


def summary(res: Results, idle: list[float], pid: int | None, wall: float) -> dict:
    server_errors = sum(n for (_, s), n in res.statuses.items() if s >= 500 and s != 503)
    unexpected = sum(n for (_, s), n in res.statuses.items() if s not in ALLOWED)
    return {
        "wall_s": round(wall, 1),
        "counts": {f"{k} {s}": n for (k, s), n in sorted(res.statuses.items())},
        "sentiment_idle_s": {"median": pct(idle, 50), "p90": pct(idle, 90), "n": len(idle)},
        "sentiment_load_s": {
            "median": pct(res.latency["sentiment"], 50),
            "p90": pct(res.latency["sentiment"], 90),
            "n": len(res.latency["sentiment"]),
        },
        "chat_load_s": {
            "median": pct(res.latency["chat"], 50),
            "p90": pct(res.latency["chat"], 90),
            "n": len(res.latency["chat"]),
        },
        "chat_first_token_s": {"median": pct(res.first_token, 50), "p90": pct(res.first_token, 90)},
        "server_errors_5xx": server_errors,
        "unexpected_statuses": unexpected,
        "transport_errors": res.errors[:5],
        "server_peak_rss_mib": peak_rss_mib(pid),
    }


def spawn_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    """Start ``moodchat serve`` on a free local port; return it once /healthz is 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "moodchat",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]
    proc = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    sys.exit("server did not become healthy within 300 s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--spawn", action="store_true", help="start `moodchat serve` for the run")
    p.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="extra flag for the spawned server, e.g. --serve-arg=--max-queue=2",
    )
    p.add_argument("--pid", type=int, default=None, help="server pid (for peak RSS)")
    p.add_argument(
        "--rss-match",
        default=None,
        help="also the peak RSS of every process whose command line contains this, e.g. "
        "ServeReplica:moodchat:MoodchatModel for the Ray Serve replicas",
    )
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=120.0)
    p.add_argument("--chat-share", type=float, default=0.5)
    p.add_argument("--max-tokens", type=int, default=None, help="reply limit per chat")
    p.add_argument("--idle-samples", type=int, default=10, help="before and again after")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 0 < args.duration <= 1800:
        p.error("clients must be 1..64 and duration 0..1800 s")
    proc = None
    if args.spawn:
        proc, url = spawn_server(args.serve_arg)
        pid = proc.pid
    else:
        url, pid = args.url, args.pid
        check_loopback(url)
    try:
        idle = idle_sentiment(url, args.idle_samples)
        start = time.monotonic()
        res = run_load(url, args.clients, args.duration, args.chat_share, args.max_tokens)
        wall = time.monotonic() - start
        idle += idle_sentiment(url, args.idle_samples)
        out = summary(res, idle, pid, wall)
        if args.rss_match:
            out["matched_peak_rss_mib"] = {
                str(p): peak_rss_mib(p) for p in matching_pids(args.rss_match)
            }
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)  # as Ctrl-C: a Ray server takes its cluster down
            try:
                proc.wait(180)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps(out, indent=2, ensure_ascii=False))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, ensure_ascii=False)
    return 1 if out["server_errors_5xx"] or out["unexpected_statuses"] else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
