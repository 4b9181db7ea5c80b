#!/usr/bin/env bash
# Make sure Debian's Chromium exists at /usr/bin/chromium (the web UI's browser tests drive it headless
# through Playwright); install it with apt-get when missing. Playwright's own browser downloads are never
# used.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "Chromium not found: installing Debian's chromium with apt-get" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "Chromium install failed: /usr/bin/chromium is still missing" >&2; exit 1; }
