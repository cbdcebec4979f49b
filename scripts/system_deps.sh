#!/usr/bin/env bash
# System packages that some tests use: Debian's chromium (the report page, played in a
# headless browser) and postgresql (the Postgres checkpointer against a real server).
# Installed only where this runs as root with apt; elsewhere those tests skip, saying why.
set -euo pipefail
have_chromium() { command -v chromium >/dev/null 2>&1; }
have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
if have_chromium && have_postgres; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql >/dev/null
else
  echo "[system_deps] not root with apt: the Chromium and PostgreSQL tests will be skipped" >&2
fi
