#!/usr/bin/env bash
# A headless Chromium for the UI's browser tests and benchmarks: Debian's `chromium` package, installed with
# apt-get when /usr/bin/chromium is missing (the tests drive it with Playwright through `executable_path`;
# no browser is ever downloaded by Playwright). Prints the browser's path.
set -euo pipefail

BROWSER=/usr/bin/chromium
if [[ ! -x "$BROWSER" ]]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "chromium.sh: $BROWSER is missing and there is no apt-get to install it" >&2
        exit 1
    fi
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null || { echo "chromium.sh: apt-get update failed" >&2; exit 1; }
    $SUDO apt-get install -y -qq chromium >/dev/null || { echo "chromium.sh: apt-get install chromium failed" >&2; exit 1; }
fi
echo "$BROWSER"
