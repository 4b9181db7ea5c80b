#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) exist; install them from apt when missing.
set -euo pipefail
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -n "$(find_bin)" ] && [ -x "$(find_bin)/initdb" ]; then exit 0; fi
if command -v initdb >/dev/null 2>&1; then exit 0; fi
echo "PostgreSQL server not found: installing it with apt-get" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq postgresql >/dev/null
# Debian starts a system cluster on install; our tests run their own, so stop it to free port 5432.
$SUDO service postgresql stop >/dev/null 2>&1 || true
[ -x "$(find_bin)/initdb" ] || { echo "PostgreSQL install failed" >&2; exit 1; }
