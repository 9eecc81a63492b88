#!/usr/bin/env bash
# Run the suites that need no PyTorch (dependency injection, services, domain events, the
# DI benchmark's smoke test) on other Python versions, each in its own .venv-<version>.
# PyTorch's CPU wheel on this machine is for Python 3.11 only, hence the torch-free subset.
# Usage: scripts/compat.sh [3.10 3.12 3.13]
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ "$#" -eq 0 ] && versions=(3.10 3.12 3.13)
status=0
for version in "${versions[@]}"; do
  python=""
  for candidate in "$(command -v "python$version" || true)" \
                   "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version"*/bin/python 2>/dev/null | head -n 1)"; do
    if [ -n "$candidate" ] && "$candidate" -c "import sys" >/dev/null 2>&1; then
      python="$candidate"
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "== Python $version: not found, skipped"
    continue
  fi
  venv=".venv-$version"
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet pytest pytest-timeout "typing-extensions>=4.6"
  fi
  echo "== Python $version ($python)"
  PYTHONPATH="$PWD" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/depends tests/services tests/domain/test_events.py tests/domain/test_handlers.py \
    "tests/test_layout.py::test_importing_module_does_not_import_torch" || status=1
done
exit $status
