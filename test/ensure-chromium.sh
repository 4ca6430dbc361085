#!/usr/bin/env bash
# test/browser.test.ts drives Debian's Chromium through playwright-core, which never downloads a
# browser. Install it when it is missing and we may (root with apt-get); otherwise say so, and
# the browser test fails with the same advice.
set -u
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing chromium for the browser test (apt-get)"
  if { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } </dev/null; then
    exit 0
  fi
fi
echo "== chromium is not installed: test/browser.test.ts will fail (apt-get install -y chromium)"
exit 0
