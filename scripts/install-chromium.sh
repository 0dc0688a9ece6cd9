#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser), installed with apt when
# /usr/bin/chromium is missing: as root, or with sudo when it needs no password. Never
# `playwright install` (a browser downloaded from elsewhere). Under CI (CI set) a browser
# that cannot be installed is an error; elsewhere the browser tests then skip, saying why.
set -euo pipefail

if [ -x /usr/bin/chromium ] || [ -n "${DRIPSMS_CHROMIUM:-}" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-chromium: /usr/bin/chromium is missing and this user cannot run apt-get" >&2
  echo "install-chromium: run 'sudo apt-get install chromium' (the browser tests skip until then)" >&2
  [ -z "${CI:-}" ] || exit 1
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no apt-get here: install Chromium and set DRIPSMS_CHROMIUM to it" >&2
  [ -z "${CI:-}" ] || exit 1
  exit 0
fi
echo "install-chromium: installing Debian's chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends chromium
test -x /usr/bin/chromium
