#!/usr/bin/env bash
# Build ECTS Edge for a Raspberry Pi, package it, and install it.
#
#   ./flash.sh --board rpi4 --package-only          build + dist/ects-edge-<ver>-<board>-aarch64.tar.gz
#   ./flash.sh --board rpi5 --rootfs /mnt/piroot    install into a mounted root filesystem (SD card)
#   ./flash.sh --board cm4  --ssh pi@10.0.0.12      install onto a running device over SSH (sudo there)
#   add --dry-run to any of them to print the commands instead of running them
#
# The package holds /usr/local/bin/ects-gateway, /etc/ects/board (the profile name the
# service reads with --board-file), the systemd unit, and the documentation and example
# configurations under /usr/share/doc/ects-edge (docs/operations.md says how to enable it).
# The cross toolchain comes from Debian's packages (scripts/cross.sh installs it if missing).
set -euo pipefail
cd "$(dirname "$0")"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

BOARD=""; MODE=""; DEST=""; DRY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --board) BOARD="${2:-}"; shift 2 ;;
        --package-only) MODE=package; shift ;;
        --rootfs) MODE=rootfs; DEST="${2:-}"; shift 2 ;;
        --ssh) MODE=ssh; DEST="${2:-}"; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) usage ;;
        *) echo "flash.sh: unknown argument $1" >&2; usage ;;
    esac
done
[ -n "$BOARD" ] || { echo "flash.sh: --board is required (rpi4, rpi5, zero2w, cm4)" >&2; exit 2; }
[ -n "$MODE" ] || { echo "flash.sh: say one of --package-only, --rootfs DIR, --ssh HOST" >&2; exit 2; }
[ -f "boards/$BOARD.toml" ] && [ "$BOARD" != sim ] || { echo "flash.sh: no Raspberry Pi board profile boards/$BOARD.toml" >&2; exit 2; }
case "$MODE" in rootfs|ssh) [ -n "$DEST" ] || { echo "flash.sh: --$MODE needs a value" >&2; exit 2; } ;; esac

run() {
    if [ "$DRY" = 1 ]; then printf 'would run:'; printf ' %q' "$@"; printf '\n'
    else "$@"
    fi
}

. scripts/cross.sh
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
PKG="dist/ects-edge-$VERSION-$BOARD-aarch64.tar.gz"
STAGE="target/flash-stage"

# 1. Build.
if [ "$DRY" = 1 ]; then
    echo "would install the cross toolchain if missing and build ects-gateway for $PI_TARGET (release)"
else
    ensure_cross_toolchain
    build_gateway_pi
    # Smoke-run the very binary we ship, under emulation, against the chosen profile.
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$(gateway_pi_binary)" board show "$BOARD" >/dev/null
fi

# 2. Package.
run rm -rf "$STAGE"
run mkdir -p "$STAGE/usr/local/bin" "$STAGE/etc/ects" "$STAGE/etc/systemd/system" "$STAGE/usr/lib/sysusers.d" "$STAGE/usr/share/doc/ects-edge" dist
run install -m 0755 "$(gateway_pi_binary)" "$STAGE/usr/local/bin/ects-gateway"
run install -m 0644 deploy/ects-gateway.service "$STAGE/etc/systemd/system/ects-gateway.service"
run install -m 0644 deploy/ects.sysusers.conf "$STAGE/usr/lib/sysusers.d/ects.conf"
if [ "$DRY" = 1 ]; then echo "would write $BOARD to $STAGE/etc/ects/board"
else printf '%s\n' "$BOARD" > "$STAGE/etc/ects/board"
fi
run cp -r README.md docs boards config deploy "$STAGE/usr/share/doc/ects-edge/"
run tar -C "$STAGE" --owner=0 --group=0 -czf "$PKG" etc usr
[ "$DRY" = 1 ] || echo "package: $PKG"

# 3. Install.
case "$MODE" in
    package) ;;
    rootfs)
        [ "$DRY" = 1 ] || [ -f "$DEST/etc/os-release" ] || { echo "flash.sh: $DEST does not look like a root filesystem (no etc/os-release)" >&2; exit 1; }
        run as_root tar -C "$DEST" --no-same-owner -xzf "$PKG"
        # The service user, created in the image (systemd-sysusers works on a root
        # directory); without it on this host, the unit's first start needs it created.
        if command -v systemd-sysusers >/dev/null; then
            run as_root systemd-sysusers --root "$DEST" "$DEST/usr/lib/sysusers.d/ects.conf"
        else
            echo "note: run 'systemd-sysusers' on the device once to create the ects user" >&2
        fi
        [ "$DRY" = 1 ] && echo "dry run: nothing was installed" || echo "installed into $DEST"
        ;;
    ssh)
        run scp "$PKG" "$DEST:/tmp/ects-edge.tar.gz"
        run ssh "$DEST" 'sudo tar -C / --no-same-owner -xzf /tmp/ects-edge.tar.gz && rm /tmp/ects-edge.tar.gz && sudo systemd-sysusers /usr/lib/sysusers.d/ects.conf && ects-gateway --version'
        [ "$DRY" = 1 ] && echo "dry run: nothing was installed" || echo "installed on $DEST"
        ;;
esac
