"""A throwaway PostgreSQL server for the tests: Debian's ``postgresql`` binaries, a
temporary data directory, a free loopback port; started and stopped by the fixture.

``scripts/test.sh`` installs the package when it is missing, so the suite never skips the
PostgreSQL tests. As root (CI), the server runs as the ``postgres`` system user the
package creates (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(which).parent
    raise RuntimeError(
        "PostgreSQL server binaries (pg_ctl, initdb) not found: install Debian's "
        "'postgresql' package (scripts/test.sh does)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class PostgresServer:
    """One server in a fresh folder of /tmp; ``url(db)`` connects to one of its databases.

    The folder is outside pytest's (mode 0700, root's) so the ``postgres`` user can enter it.
    """

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="moodchat-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [*self.as_user, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr or done.stdout}")
        return done

    def init(self) -> None:
        if self.as_user:
            shutil.chown(self.root, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                  "postgres", "-E", "UTF8", "--no-instructions")  # fmt: skip

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        log = self.root / "server.log"
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-t",
                      "60", "-l", str(log), "start")  # fmt: skip
        except RuntimeError as err:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{err}\nserver log:\n{tail}") from None

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop",
                  check=False)  # fmt: skip

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def kill9(self) -> None:
        """SIGKILL the postmaster and its backends at once: a crash, no shutdown checkpoint."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        pids = [pid, *(int(p) for p in children.stdout.split())]
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        # nobody may reap the dead postmaster here (it was re-parented to our init), and a
        # zombie's pid still answers kill(pid, 0): drop the lock files a crash leaves behind
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for leftover in self.root.glob(f".s.PGSQL.{self.port}*"):
            leftover.unlink(missing_ok=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
