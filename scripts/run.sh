#!/usr/bin/env bash
# The README's two commands go through here:
#   bash scripts/run.sh demo   — set everything up, then run the main job
#   bash scripts/run.sh test   — set everything up, then run every test (what CI runs)
# Set-up is idempotent: the Node toolchain, pnpm, the workspace's packages, the build and,
# for tests, the system peers (QEMU tools, libnbd tools, xmllint, libvirt's schemas).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/toolchain.sh
source scripts/lib/toolchain.sh
# shellcheck source=scripts/lib/peers.sh
source scripts/lib/peers.sh

what="${1:-}"
case "$what" in
  demo)
    ensure_toolchain
    ensure_workspace
    exec bash scripts/demo.sh
    ;;
  test)
    ensure_toolchain
    ensure_peers
    ensure_workspace
    step "lint";      pnpm run --silent lint
    step "layering";  pnpm run --silent check:layering
    step "typecheck"; pnpm run --silent typecheck
    step "tests";     status=0; pnpm run --silent test || status=$?
    node scripts/lib/test-summary.mjs || status=1
    exit "$status"
    ;;
  *)
    echo "usage: bash scripts/run.sh demo|test" >&2
    exit 2
    ;;
esac
