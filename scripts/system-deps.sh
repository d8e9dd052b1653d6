#!/usr/bin/env bash
# Debian packages dcc needs beyond Python wheels: HarfBuzz's subsetter (WeasyPrint renders 2x slower
# without it), and for the tests poppler-utils (pdftotext, and pdfsig: the independent signature verifier)
# with libnss3-tools (certutil, crlutil: the NSS trust store pdfsig validates certificates against), and
# chromium (the browser tests drive Debian's Chromium with Playwright; no browser download).
# Usage: system-deps.sh [PACKAGE...]   (default: the runtime packages only)
set -u
[ $# -gt 0 ] || set -- libharfbuzz-subset0
need=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing Debian packages: ${need[*]} (install them with apt-get for full speed and the pdfsig tests)" >&2
  exit 0
fi
echo "installing Debian packages: ${need[*]}" >&2
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 \
  || echo "note: apt-get could not install ${need[*]}" >&2
exit 0
