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
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${ONBOARD_EXTRAS:-test}]"
say ".venv is ready"
