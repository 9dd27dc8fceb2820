#!/usr/bin/env bash
# The system programs the test suite needs and npm cannot bring: Debian's chromium (browser tests),
# a CJK font (Chinese text in screenshots), slapd + ldap-utils (the LDAP sign-in test runs a real
# OpenLDAP). `make test` runs this first. Missing ones are installed with apt-get when we are root
# and apt-get exists; otherwise this stops at once with the exact command to run. Never a skip.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' || missing+=(fonts-noto-cjk)
[ -x /usr/sbin/slapd ] || missing+=(slapd)
[ -x /usr/bin/ldapadd ] || missing+=(ldap-utils)

[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing what the tests need: ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
{
  echo "The tests need system packages that are missing: ${missing[*]}"
  echo "Install them, then run make test again:"
  echo
  echo "    sudo sh -c '$command'"
} >&2
exit 1
