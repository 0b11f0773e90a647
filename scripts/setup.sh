#!/usr/bin/env bash
# One-time (and idempotent) set-up for a fresh machine: system packages, the Python venv, then
# the Node MCP packages (stack/mcp).
# Run by `make setup`, `make demo` and `make test`; safe to run again (it skips what is done).
#
# Python packages come from uv.lock, exactly (versions and hashes): uv, itself pinned and installed
# from PyPI into .venv-tools/, creates .venv and syncs it with the lock (the project editable, so
# alembic.ini and migrations/ are found in the work tree). After a change to the dependencies in
# pyproject.toml, run `.venv-tools/bin/uv lock` and commit uv.lock: this script refuses a stale lock.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}

need=()
have_pg_server() { command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ] \
  || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_pg_server || need+=(postgresql)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need+=(fonts-dejavu-core)
# Caption fonts: Latin/Greek/Cyrillic, CJK and colour emoji (the captions fall back per glyph).
[ -f /usr/share/fonts/truetype/noto/NotoSans-Bold.ttf ] || need+=(fonts-noto-core)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || need+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
command -v java >/dev/null || need+=(default-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v runuser >/dev/null || need+=(util-linux)
# The console's browser tests drive Debian's Chromium with Playwright (its own browser
# download cannot work offline).
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v "$PY" >/dev/null || need+=(python3)
# Debian ships venv/ensurepip (needed for .venv-tools) apart from python3.
command -v "$PY" >/dev/null && "$PY" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v npm >/dev/null || need+=(nodejs npm)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${need[*]} (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages first: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi

# uv itself, the version pyproject.toml requires, from PyPI (in a small venv of its own: no system
# pip, no download script).
UV_VERSION=$(sed -n 's/^required-version = "==\(.*\)"$/\1/p' pyproject.toml)
[ -n "$UV_VERSION" ] || { echo "setup: no [tool.uv] required-version in pyproject.toml" >&2; exit 1; }
uv=.venv-tools/bin/uv
case "$("$uv" --version 2>/dev/null)" in
  "uv $UV_VERSION" | "uv $UV_VERSION "*) ;;
  *)
    echo "setup: installing uv $UV_VERSION into .venv-tools"
    rm -rf .venv-tools
    "$PY" -m venv .venv-tools
    .venv-tools/bin/pip install -q --disable-pip-version-check "uv==$UV_VERSION"
    ;;
esac

# The stamp is keyed on what decides the venv's contents: the lock, pyproject.toml (uv's version
# included) and the Python.
stamp=.venv/.synced-$(cat uv.lock pyproject.toml <("$PY" --version) | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages into .venv from uv.lock"
  # --locked: fail if uv.lock no longer matches pyproject.toml. Never download a Python build.
  UV_PYTHON_DOWNLOADS=never "$uv" sync --locked --extra dev --python "$PY" --quiet
  rm -f .venv/.synced-* .venv/.installed-*
  touch "$stamp"
fi

# Node MCP packages (the Filesystem reference server; the TypeScript SDK the tests drive
# Chimera's MCP server with), pinned by stack/mcp/package-lock.json, into a git-ignored folder.
node_stamp=stack/mcp/node_modules/.installed-$(sha256sum stack/mcp/package-lock.json | cut -c1-16)
if [ ! -f "$node_stamp" ]; then
  echo "setup: installing the Node MCP packages into stack/mcp/node_modules (npm ci)"
  npm ci --prefix stack/mcp --no-audit --no-fund --loglevel=error >/dev/null
  touch "$node_stamp"
fi
