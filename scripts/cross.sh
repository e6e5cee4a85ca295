# Shared by ci.sh and flash.sh (source it): Debian's cross toolchain and the cross builds.
#
# rustup cannot download other targets here, so cross builds use Debian's rustc
# (`rustc-web`, /usr/bin/rustc) driven by rustup's cargo, in their own target dir so the two
# compilers' artifacts never mix. See docs/development.md.

CROSS_TARGET_DIR="${CROSS_TARGET_DIR:-$PWD/target/cross}"
PI_TARGET=aarch64-unknown-linux-gnu
MCU_TARGET=thumbv7em-none-eabihf

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "need root or sudo to run: $*" >&2; return 1
    fi
}

# Installs from Debian's packages whatever the cross builds lack.
ensure_cross_toolchain() {
    local missing=()
    { [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library/core ]; } || missing+=(rustc-web rust-web-src)
    command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
    [ -d "/usr/lib/rustlib/$PI_TARGET" ] || missing+=(libstd-rust-web-dev:arm64)
    command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "installing the cross toolchain: ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -q ':arm64$'; then
        as_root dpkg --add-architecture arm64
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

# ects-firmware for a Cortex-M4F with only `core`: fails if anything pulls in std or alloc.
build_firmware_mcu() {
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$CROSS_TARGET_DIR" \
        cargo build --locked -Zbuild-std=core --target "$MCU_TARGET" -p ects-firmware
}

# ects-gateway (release) for 64-bit Raspberry Pi OS; prints nothing else on stdout.
build_gateway_pi() {
    RUSTC=/usr/bin/rustc CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CARGO_TARGET_DIR="$CROSS_TARGET_DIR" \
        cargo build --locked --release --target "$PI_TARGET" -p ects-gateway
}

gateway_pi_binary() {
    echo "$CROSS_TARGET_DIR/$PI_TARGET/release/ects-gateway"
}
