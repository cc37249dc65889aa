# Sourced by the scripts in this folder: make .venv (Python 3.10+) with onboard and its extras installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
# pip runs quietly; these lines say what the wait is for.
say() { echo "$(basename "$0"): $*" >&2; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PYTHON" --version 2>&1) ..."
  if ! "$PYTHON" -m venv .venv; then
    rm -rf .venv
    say "could not create .venv: Debian and Ubuntu need the python3-venv package (sudo apt install python3-venv)"
    exit 1
  fi
  say "installing onboard and its dependencies into .venv (the first time takes a minute or two) ..."
else
  say "checking .venv's packages ..."
fi
# While pip works (minutes on a slow network or a busy machine), a line every half minute says so.
still_installing() {
  local started nap
  started=$(date +%s)
  # The nap holds none of the script's output open, and goes with the reminder when it is stopped.
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while :; do
    sleep "${ONBOARD_PROGRESS_SECONDS:-30}" </dev/null >/dev/null 2>&1 &
    nap=$!
    wait "$nap"
    say "pip is still at work ($(($(date +%s) - started)) s so far) ..."
  done
}
still_installing &
reminder=$!
trap 'kill "$reminder" 2>/dev/null || true' EXIT
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${ONBOARD_EXTRAS:-test}]"
kill "$reminder" 2>/dev/null || true
wait "$reminder" 2>/dev/null || true
trap - EXIT
say ".venv is ready"
