#!/usr/bin/env bash
# Installs the Debian packages anxin needs to build, test and run its demo.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

PKGS=(build-essential pkg-config libpaho-mqtt-dev libpq-dev libuv1-dev
      libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev
      mosquitto mosquitto-clients libmosquitto-dev postgresql-15 postgresql-client-15
      curl openssl python3 python3-paho-mqtt python3-psycopg2 valgrind clang libclang-rt-14-dev kannel kannel-extras
      chromium fonts-wqy-microhei)
# The console's browser test (tests/browser) runs in Debian's chromium under
# node; the font gives its screenshots Chinese glyphs. A machine may already
# have Node.js from elsewhere (NodeSource's nodejs bundles npm and conflicts
# with Debian's npm package): Debian's nodejs and npm only when npm is absent.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages and not root; run: sudo $0" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
