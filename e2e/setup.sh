#!/usr/bin/env bash
# System packages for the e2e run: Debian's Chromium, which Playwright drives (it never downloads a browser).
# CI runs as root on a fresh Debian machine; elsewhere sudo is used when there is one.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "e2e/setup.sh: /usr/bin/chromium is missing; as root run: apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version 2>/dev/null || true
