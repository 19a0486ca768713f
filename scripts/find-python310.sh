#!/usr/bin/env bash
# Prints the path of a working Python 3.10 interpreter (TFX 1.16 needs Python < 3.11).
# Tries $PYTHON310, python3.10 on PATH, then pyenv's installs; fails with a clear message.
set -u
for candidate in "${PYTHON310:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
  [ -n "$candidate" ] || continue
  if out=$("$candidate" -c 'import sys; print(sys.executable) if sys.version_info[:2] == (3, 10) else sys.exit(1)' 2>/dev/null); then
    echo "$out"
    exit 0
  fi
done
echo "error: Python 3.10 not found (TFX 1.16 needs 3.10). Install it (e.g. 'pyenv install 3.10.13') or set PYTHON310=/path/to/python3.10" >&2
exit 1
