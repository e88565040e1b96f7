# Installs the real peers the tests compare against, from Debian's packages, when they are
# missing: qemu-img/qemu-io/qemu-nbd (qemu-utils), qemu-storage-daemon
# (qemu-system-common), nbdinfo/nbdcopy (libnbd-bin), xmllint (libxml2-utils), ip (iproute2,
# for the two-host network-namespace test), and
# libvirt's RNG schemas taken out of the libvirt0 package without installing a daemon.
PEER_PACKAGES="qemu-utils qemu-system-common libnbd-bin libxml2-utils iproute2"
PEER_COMMANDS="qemu-img qemu-io qemu-nbd qemu-storage-daemon nbdinfo nbdcopy xmllint ip"
LIBVIRT_SCHEMAS="$root/.toolchain/libvirt/usr/share/libvirt/schemas"

apt_install_hint() {
  echo "install the test peers with: sudo apt-get update && sudo apt-get install -y $PEER_PACKAGES" >&2
}

ensure_peers() {
  local missing=""
  for c in $PEER_COMMANDS; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
  if [ -n "$missing" ]; then
    step "system peers missing:$missing; installing $PEER_PACKAGES"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PEER_PACKAGES >/dev/null
    else
      apt_install_hint
      exit 1
    fi
    for c in $PEER_COMMANDS; do
      command -v "$c" >/dev/null 2>&1 || { echo "$c is still missing after the install" >&2; apt_install_hint; exit 1; }
    done
  fi
  if [ ! -f "$LIBVIRT_SCHEMAS/domain.rng" ]; then
    step "libvirt schemas from the libvirt0 package"
    local tmp
    tmp="$(mktemp -d)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq || true; fi
    (cd "$tmp" && apt-get download libvirt0 >/dev/null) || {
      echo "could not download libvirt0 for its schemas: apt-get download libvirt0" >&2
      rm -rf "$tmp"; exit 1
    }
    mkdir -p "$root/.toolchain/libvirt"
    dpkg -x "$tmp"/libvirt0_*.deb "$root/.toolchain/libvirt"
    rm -rf "$tmp"
    [ -f "$LIBVIRT_SCHEMAS/domain.rng" ] || { echo "libvirt0 did not contain domain.rng" >&2; exit 1; }
  fi
  export STRATA_LIBVIRT_SCHEMAS="$LIBVIRT_SCHEMAS"
  echo "peers: $(qemu-img --version | head -n1); $(nbdinfo --version 2>/dev/null | head -n1); xmllint present"
}
