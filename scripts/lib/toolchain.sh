# Brings the project's own Node (>= 22; the machine's may be older) and pnpm into
# .toolchain/, then installs and builds the workspace. Sourced by scripts/run.sh.
NODE_SPEC="node@24"
PNPM_SPEC="pnpm@10.34.9"
toolchain="$root/.toolchain"

step() { printf '\n==> %s\n' "$*"; }

node_ok() {
  [ -x "$toolchain/node_modules/.bin/node" ] &&
    "$toolchain/node_modules/.bin/node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null &&
    [ -x "$toolchain/node_modules/.bin/pnpm" ]
}

ensure_toolchain() {
  if ! node_ok; then
    step "toolchain: $NODE_SPEC and $PNPM_SPEC from the npm registry into .toolchain/"
    if ! command -v npm >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
      else
        echo "npm is needed once to fetch the toolchain: sudo apt-get install -y npm" >&2
        exit 1
      fi
    fi
    mkdir -p "$toolchain"
    [ -f "$toolchain/package.json" ] || echo '{"private":true}' >"$toolchain/package.json"
    (cd "$toolchain" && npm install --no-audit --no-fund --loglevel=error "$NODE_SPEC" "$PNPM_SPEC" 2>&1 | grep -v 'Unknown user config' || true)
    if ! node_ok; then
      echo "could not install $NODE_SPEC and $PNPM_SPEC into .toolchain/ (is the npm registry reachable?)" >&2
      exit 1
    fi
  fi
  export PATH="$toolchain/node_modules/.bin:$root/node_modules/.bin:$PATH"
  export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
  echo "node $(node --version), pnpm $(pnpm --version)"
}

ensure_workspace() {
  step "install workspace packages"
  pnpm install --frozen-lockfile --reporter=append-only | grep -vE '^(Progress|Packages:)' || true
  [ -d node_modules/.pnpm ] || { echo "pnpm install failed" >&2; exit 1; }
  step "build"
  pnpm run --silent build
}
