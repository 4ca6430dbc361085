#!/usr/bin/env bash
# test/radosgw.test.ts runs the S3 and MinIO adapters against Ceph's radosgw (Debian's Ceph 16),
# a signature-verifying S3 server. Install it when it is missing and we may (root with apt-get,
# about 75 s); otherwise say so, and that test fails with the same advice.
set -u
PACKAGES="ceph-mon ceph-osd radosgw ceph-common"
[ -x /usr/bin/radosgw ] && [ -x /usr/bin/ceph-mon ] && [ -x /usr/bin/ceph-osd ] && [ -x /usr/bin/ceph ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing $PACKAGES for the radosgw test (apt-get)"
  if { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
       DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null; } </dev/null; then
    exit 0
  fi
fi
echo "== radosgw is not installed: test/radosgw.test.ts will fail (apt-get install -y $PACKAGES)"
exit 0
