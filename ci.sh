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
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "ci.sh: need root or sudo to run: $*" >&2; return 1
    fi
}

# ---- what the tests need, from Debian's packages --------------------------------------
missing=()
if [ "$CROSS" = 1 ]; then
    [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library/core ] || missing+=(rustc-web rust-web-src)
    command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
    [ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu ] || missing+=(libstd-rust-web-dev:arm64)
    command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -q ':arm64$'; then
        as_root dpkg --add-architecture arm64
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

rustc_version=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$MSRV" "$rustc_version" | sort -V | head -n1)" != "$MSRV" ]; then
    echo "ci.sh: rustc $rustc_version is older than the MSRV $MSRV" >&2
    exit 1
fi

# ---- gates ------------------------------------------------------------------------------
step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --locked --workspace

if [ "$CROSS" = 1 ]; then
    # Debian's rustc, in its own target dir: its artifacts must not mix with rustup's.
    export CARGO_TARGET_DIR="$PWD/target/cross"
    step "ects-firmware for thumbv7em-none-eabihf (no std, no alloc)"
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
        cargo build --locked -Zbuild-std=core --target thumbv7em-none-eabihf -p ects-firmware

    step "ects-gateway for aarch64-unknown-linux-gnu (Raspberry Pi), smoke-run under qemu"
    RUSTC=/usr/bin/rustc CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
        cargo build --locked --release --target aarch64-unknown-linux-gnu -p ects-gateway
    qemu-aarch64 -L /usr/aarch64-linux-gnu \
        "$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/ects-gateway" --version
fi

step "all gates passed"
