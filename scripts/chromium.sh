#!/usr/bin/env bash
# The headless Chromium that browser.render and the dashboard's browser tests drive through Playwright:
# Debian's `chromium` package, installed with apt-get when missing (never a browser download). Prints the
# browser's path.
set -euo pipefail

die() {
    echo "chromium.sh: $*" >&2
    exit 1
}

if [[ ! -x /usr/bin/chromium ]]; then
    [[ "$(id -u)" == 0 ]] || die "chromium is not installed and installing it needs root (apt-get install chromium)"
    command -v apt-get >/dev/null 2>&1 || die "chromium is not installed and there is no apt-get to install it"
    echo "chromium.sh: installing chromium with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    log="$(mktemp)"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "apt-get install chromium failed"
    fi
    rm -f "$log"
fi
echo /usr/bin/chromium
