#!/usr/bin/env bash
# Rewrite constraints/ci.txt from a virtual environment that `make install` built (default .venv):
# every installed distribution pinned, pixelboard itself left out. CI installs through it, so a fresh
# clone gets the versions the tests last passed with; `make test-latest` tries the newest releases.
#   bash scripts/lock.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
tmp=$(mktemp constraints/.ci.txt.XXXXXX)
trap 'rm -f "$tmp"' EXIT
{
  echo "# Pinned by scripts/lock.sh on $(date -u +%Y-%m-%d) from a fresh 'make install' (python $("$venv/bin/python" -c 'import platform; print(platform.python_version())')); CI installs with it."
  "$venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check | grep -v -i '^pixelboard' | grep -v '^#' | LC_ALL=C sort -f
} > "$tmp"
mv "$tmp" constraints/ci.txt
trap - EXIT
echo "wrote constraints/ci.txt ($(grep -vc '^#' constraints/ci.txt) pins)"
