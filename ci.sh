#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then runs every gate.
#
#   ./ci.sh            all gates
#   ./ci.sh --no-cross skip the Cortex-M and aarch64 cross builds (quick local loop)
#
# Gates: rustfmt, clippy -D warnings, the whole test suite, ects-firmware built for
# thumbv7em-none-eabihf without std or alloc (proves the core is no_std), and ects-gateway
# cross-built for aarch64 (Raspberry Pi) and smoke-run under qemu-aarch64.
set -euo pipefail
cd "$(dirname "$0")"

MSRV="1.95"   # keep in step with Cargo.toml `rust-version` and README.md
CROSS=1
for arg in "$@"; do
    case "$arg" in
        --no-cross) CROSS=0 ;;
        *) echo "ci.sh: unknown argument $arg (expected --no-cross)" >&2; exit 2 ;;
    esac
done

step() { printf '\n==> %s\n' "$*"; }
. scripts/cross.sh

# ---- what the gates need, from Debian's packages ----------------------------------------
# The end-to-end tests start a real broker and subscriber (mosquitto, mosquitto_sub) and
# fill a real tmpfs in a private mount namespace (unshare, from util-linux).
test_pkgs=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || test_pkgs+=(mosquitto)
command -v mosquitto_sub >/dev/null || test_pkgs+=(mosquitto-clients)
command -v unshare >/dev/null || test_pkgs+=(util-linux)
if [ "${#test_pkgs[@]}" -gt 0 ]; then
    step "installing ${test_pkgs[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${test_pkgs[@]}"
fi
# Debian's package starts a system broker on port 1883; the tests use their own brokers on
# free ports and do not need it.
export PATH="$PATH:/usr/sbin"
if [ "$CROSS" = 1 ]; then
    ensure_cross_toolchain
fi

rustc_version=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$MSRV" "$rustc_version" | sort -V | head -n1)" != "$MSRV" ]; then
    echo "ci.sh: rustc $rustc_version is older than the MSRV $MSRV" >&2
    exit 1
fi

# ---- build footprint ----------------------------------------------------------------------
# CI machines can be short of disk: a run once failed with "No space left on device" while
# compiling the tests. No incremental caches (they roughly double target/ and a one-off run
# never reuses them) and line tables only for debug info (backtraces keep file:line).
# A developer's own settings win.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
df -h . 2>/dev/null | awk 'NR == 2 { print "ci.sh: " $4 " free on " $6 " before building" }' || true

# ---- gates ------------------------------------------------------------------------------
step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --locked --workspace

if [ "$CROSS" = 1 ]; then
    step "ects-firmware for $MCU_TARGET (no std, no alloc)"
    build_firmware_mcu
    step "ects-gateway for $PI_TARGET (Raspberry Pi), smoke-run under qemu"
    build_gateway_pi
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$(gateway_pi_binary)" --version
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$(gateway_pi_binary)" board show rpi5 >/dev/null
fi

step "all gates passed"
