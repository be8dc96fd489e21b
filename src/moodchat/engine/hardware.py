"""Facts about the machine and this process: cores and memory.

Contract: pure read-only helpers; ``peak_rss_bytes`` is the kernel's high-water mark for
this process (``ru_maxrss``), ``rss_bytes`` the resident set right now, read from /proc
where it exists so that the benchmark can measure a process before it imports psutil.
"""

from __future__ import annotations

import os
import resource
import sys


def physical_cores() -> int:
    """Physical CPU cores (llama.cpp runs best with one thread per core)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


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
