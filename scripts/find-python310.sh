#!/usr/bin/env bash
# Prints the path of a working Python 3.10 interpreter (TFX 1.16 supports Python 3.9 and 3.10 only).
# Usage: find-python310.sh [UV]
#   1. a system Python 3.10: $PYTHON310, python3.10 on PATH, pyenv's installs, /usr(/local)/bin
#      ($PYTHON310_SYSTEM_PLACES replaces the last two);
#   2. otherwise uv's managed CPython 3.10 (uv downloads it once, where the network allows);
#   3. otherwise one error saying what to do.
# Progress and the choice go to stderr; only the interpreter's path goes to stdout.
set -u
UV="${1:-uv}"
is_310() { "$1" -c 'import sys; print(sys.executable) if sys.version_info[:2] == (3, 10) else sys.exit(1)' 2>/dev/null; }

# The fixed places looked at last (a space-separated list; the tests point it elsewhere).
SYSTEM_PLACES="${PYTHON310_SYSTEM_PLACES-/usr/bin/python3.10 /usr/local/bin/python3.10}"
# shellcheck disable=SC2086 # the list is split on purpose
for candidate in "${PYTHON310:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 $SYSTEM_PLACES; do
  [ -n "$candidate" ] || continue
  if out=$(is_310 "$candidate"); then
    echo "$out"
    exit 0
  fi
done

if command -v "$UV" >/dev/null 2>&1; then
  echo "No system Python 3.10 found; installing uv's managed CPython 3.10 (TFX 1.16 needs 3.10) ..." >&2
  if UV_PYTHON_DOWNLOADS=automatic "$UV" python install 3.10 >&2; then
    if found=$(UV_PYTHON_DOWNLOADS=never "$UV" python find --python-preference only-managed 3.10 2>/dev/null) && out=$(is_310 "$found"); then
      echo "Using uv's managed CPython 3.10: $out" >&2
      echo "$out"
      exit 0
    fi
  fi
  reason="and uv could not install its managed CPython 3.10 (no network, or python-build-standalone unreachable)"
else
  reason="and uv ($UV) is not available to install one"
fi
echo "error: Python 3.10 not found, $reason." >&2
echo "TFX 1.16 needs Python 3.10. Install it (e.g. 'pyenv install 3.10.13', 'uv python install 3.10' where the network allows, or your OS's python3.10 package), or set PYTHON310=/path/to/python3.10, then run make again." >&2
exit 1
