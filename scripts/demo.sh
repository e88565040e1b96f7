#!/usr/bin/env bash
# The main job: a strata-img / strata-io walk-through on generated images (every step
# prints the command it runs, then its output), then a live storage migration of a disk
# that a guest keeps writing over NBD. Needs only the README's set-up.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
img="$root/node_modules/.bin/strata-img"
io="$root/node_modules/.bin/strata-io"
work="$(mktemp -d "${TMPDIR:-/tmp}/strata-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

n=0
run() {
  n=$((n + 1))
  printf '\n\033[1m[%d] $ %s\033[0m\n' "$n" "$*"
  "$@"
}
show() { "$img" "$@" | sed 's/^/    /'; }

echo "Strata walk-through in a temporary directory ($(basename "$work"))"

run "$img" create -f qcow2 base.qcow2 64M
run "$io" -f qcow2 -c 'write -P 0x11 0 4M' -c 'write -P 0x22 8M 1M' base.qcow2
run "$img" create -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2
run "$io" -f qcow2 -c 'write -P 0x33 1M 1M' -c 'write -z 2M 512k' mid.qcow2
run "$img" create -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
run "$io" -f qcow2 -c 'write -P 0x44 3M 64k' top.qcow2
run "$img" info --backing-chain top.qcow2
run "$img" map --output=json top.qcow2
run "$img" snapshot -f qcow2 -c before-commit top.qcow2
run "$img" snapshot -f qcow2 -l top.qcow2
run "$img" check top.qcow2
run "$img" convert -p -f qcow2 -O raw top.qcow2 flat.raw
run "$img" convert -c -f qcow2 -O qcow2 top.qcow2 compressed.qcow2
run "$img" compare -f qcow2 -F raw top.qcow2 flat.raw
run "$img" commit -p -f qcow2 mid.qcow2
run "$io" -f qcow2 -c 'read -P 0x33 1M 1M' -c 'read -P 0 2M 512k' -c 'read -P 0x11 2560k 1536k' base.qcow2
run "$img" check --output=json base.qcow2
run "$img" compare -f qcow2 -F raw top.qcow2 flat.raw
printf '\nDone: %d steps, every image checked and compared.\n' "$n"

# Part two: the disk moves while a guest writes to it.
printf '\n\033[1m== Live storage migration with strata-storage-daemon ==\033[0m\n'
node "$root/tools/storage-daemon/dist/demo/live-migration.js"
