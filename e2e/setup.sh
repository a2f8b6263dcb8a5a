#!/usr/bin/env bash
# System packages for the e2e runs, from Debian: chromium (which Playwright drives; it never downloads a browser)
# for `make e2e`, postgresql and redis-server for `make e2e-distributed`. Arguments name the packages (default:
# chromium); only the missing ones are installed. CI runs as root on a fresh Debian machine; elsewhere sudo is
# used when there is one.
set -euo pipefail

binary_of() {
    case "$1" in
        chromium) echo /usr/bin/chromium ;;
        postgresql) echo /usr/lib/postgresql/15/bin/initdb ;;
        redis-server) echo /usr/bin/redis-server ;;
        *) echo "e2e/setup.sh: unknown package $1" >&2; exit 2 ;;
    esac
}

missing=()
for package in "${@:-chromium}"; do
    if [ ! -x "$(binary_of "$package")" ]; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "e2e/setup.sh: ${missing[*]} missing; as root run: apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
for package in "${missing[@]}"; do
    ls -l "$(binary_of "$package")"
done
