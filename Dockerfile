# syntax=docker/dockerfile:1
#
# recproxy image: a build stage that compiles better-sqlite3 (native) and the TypeScript
# sources, and a runtime stage with no compilers that runs as the non-root `node` user.
#
# Base image: Node 24 LTS on Debian bookworm, slim variant, pinned to an exact release.
# better-sqlite3 12.x supports Node 20-24. Both stages MUST use the same tag: the native
# addon built in `build` is copied into `runtime` and is tied to that Node ABI and glibc.
# Not 24.19.0-24.21.x: there better-sqlite3 12 aborts the process when V8 collects a
# statement ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook);
# 24.22.0 fixed it in Node. CI runs the whole suite on this exact version: scripts/node24.sh
# reads it from the line below.

ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build

# Toolchain for node-gyp (better-sqlite3 compiles its bundled SQLite).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Build better-sqlite3 from source instead of letting prebuild-install download a binary
# from GitHub (prebuild-install reads this variable; naming the package limits it to that
# one). npm may print "Unknown env config build-from-source": harmless, the variable is
# read by prebuild-install, not by npm.
ENV npm_config_build_from_source=better-sqlite3

COPY package.json package-lock.json ./

# Install scripts: npm 11 (newer releases) runs a dependency's install script only when
# package.json "allowScripts" lists it; better-sqlite3 is listed there. npm 10 ignores
# "allowScripts" and runs every install script. Either way better-sqlite3's install script
# runs, so plain `npm ci` works with both; do not add --ignore-scripts, and do not pass
# --allow-scripts (npm 11 rejects it for project installs; npm 10 does not know it).
# The check afterwards fails the build loudly if the addon is missing or does not load,
# rather than producing an image that crashes at start.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund \
 && node -e "new (require('better-sqlite3'))(':memory:').close()"

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
COPY config ./config
COPY bin ./bin
COPY player ./player

RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node -e "new (require('better-sqlite3'))(':memory:').close()"

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    RECPROXY_DB_PATH=/app/data/index.db \
    RECPROXY_LOCAL_ROOT=/app/data/recordings \
    RECPROXY_SIGNING_KEY_FILE=/app/data/signing.key

WORKDIR /app

# Application files stay owned by root (read-only for the daemon); only /app/data is
# writable by `node` (uid 1000, created by the official image).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/player ./player

# Create the data directory before VOLUME so a new named volume is initialised with
# this ownership.
RUN mkdir -p /app/data/recordings \
 && chown -R node:node /app/data
VOLUME ["/app/data"]

USER node

EXPOSE 3000

# Slim images have no curl/wget: probe with node itself (global fetch, Node >= 18).
# The probe goes to 127.0.0.1, which the server reaches because HOST=0.0.0.0.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]

# Node as PID 1 does not get default signal handling; run with `docker run --init`
# (or `init: true` in Compose, as docker-compose.yml does) so SIGTERM stops it promptly.
# --no-memory-reducer: after an idle spell V8's memory reducer kept download traffic in ~40 full
# GCs a second and cost up to 2x CPU per download (BENCHMARKS.md).
CMD ["node", "--no-memory-reducer", "bin/recproxy", "serve"]
