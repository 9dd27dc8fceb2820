#!/usr/bin/env bash
# The system programs the test suite needs and npm cannot bring: Debian's chromium (browser tests),
# a CJK font (Chinese text in screenshots), slapd + ldap-utils (the LDAP sign-in test runs a real
# OpenLDAP). `make test` runs this first. Missing ones are installed with apt-get when we are root
# and apt-get exists; otherwise this stops at once with the exact command to run. Never a skip.
set -euo pipefail

# Two test runs started at once (two checkouts, `make test` twice) must not race for apt's lock:
# they take turns here, and the second one finds what the first installed.
if [ -z "${PARLEY_PREREQUISITES_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
  export PARLEY_PREREQUISITES_LOCKED=1
  exec flock "${TMPDIR:-/tmp}/parley-test-prerequisites.lock" "$0" "$@"
fi

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Not `grep -q`: it stops reading at the first match, fc-list dies of SIGPIPE, and under pipefail
# an installed font looked missing (every run went to apt-get).
fc-list : family 2>/dev/null | grep -i 'Noto Sans CJK' >/dev/null || missing+=(fonts-noto-cjk)
[ -x /usr/sbin/slapd ] || missing+=(slapd)
[ -x /usr/bin/ldapadd ] || missing+=(ldap-utils)

[ ${#missing[@]} -eq 0 ] && exit 0

command="apt-get update && apt-get install -y ${missing[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing what the tests need: ${missing[*]} (apt-get)"
  # Anyone else using apt (an unattended upgrade) is waited for, not failed on.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
{
  echo "The tests need system packages that are missing: ${missing[*]}"
  echo "Install them, then run make test again:"
  echo
  echo "    sudo sh -c '$command'"
} >&2
exit 1
