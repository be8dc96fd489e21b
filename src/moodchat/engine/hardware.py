"""Facts about the machine and this process: cores and memory.

Contract: read-only helpers, except ``limit_malloc_arenas``; ``peak_rss_bytes`` is the
kernel's high-water mark for this process (``ru_maxrss``), ``rss_bytes`` the resident set
right now, read from /proc where it exists so that the benchmark can measure a process
before it imports psutil.
``limit_malloc_arenas(n)`` caps glibc's malloc arenas for this process (see its docstring).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys


def physical_cores() -> int:
    """Physical CPU cores (llama.cpp runs best with one thread per core)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(n: int = 2) -> bool:
    """Cap glibc's malloc arenas at ``n``; True if set, False elsewhere or when overridden.

    glibc gives each thread that allocates its own arena (up to 8 per core), and a server's
    worker threads each keep freed memory in theirs. Capped at 2, the load test's peak
    server RSS fell from 700.8 to 682.9 MiB (``scripts/loadtest.py --spawn --duration
    120``, once each, same code). Call it before starting threads; a ``MALLOC_ARENA_MAX``
    already in the environment wins.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, ...)
        return False
    return bool(libc.mallopt(M_ARENA_MAX, n))


def rss_bytes() -> int:
    """Resident set size of this process now."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    """Highest resident set size this process has had."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def mib(n_bytes: int | float) -> float:
    """Bytes to MiB, rounded to 0.1."""
    return round(n_bytes / (1024 * 1024), 1)
