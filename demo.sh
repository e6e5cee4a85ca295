#!/usr/bin/env bash
# The demo: broker + gateway + simulated devices, no hardware needed.
#
#   ./demo.sh            a truck from Mombasa along the Northern Corridor, 100 km in ~45 s
#   ./demo.sh --keep     leave the scratch directory (config, journal, logs) for a look
#
# Starts a real mosquitto on a free loopback port, `ects-gateway run` with a demo config
# (the corridor and zones of config/geo, one armed trip), and `ects-tools simulate` as the
# truck's GPS receiver (NMEA over TCP) and its TeraTrack e-lock (JSON over TCP). The truck
# detours 8 km off the corridor, stops 25 minutes at the roadside, drives through a jammer,
# and someone cuts the e-lock's cable. A subscriber prints what central receives; a summary
# follows. Installs mosquitto from Debian's packages if it is missing.
set -euo pipefail
cd "$(dirname "$0")"
KEEP=0
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        *) echo "demo.sh: unknown argument $arg (expected --keep)" >&2; exit 2 ;;
    esac
done
. scripts/cross.sh   # as_root

export PATH="$PATH:/usr/sbin"
pkgs=()
command -v mosquitto >/dev/null || pkgs+=(mosquitto)
command -v mosquitto_sub >/dev/null || pkgs+=(mosquitto-clients)
if [ "${#pkgs[@]}" -gt 0 ]; then
    echo "==> installing ${pkgs[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
fi

echo "==> building" >&2
if [ "${ECTS_DEMO_DEBUG:-0}" = 1 ]; then   # the end-to-end test runs the demo on debug builds
    cargo build -q --locked -p ects-gateway -p ects-tools
    BIN="$PWD/target/debug"
else
    cargo build -q --release --locked -p ects-gateway -p ects-tools
    BIN="$PWD/target/release"
fi

free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 30000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "demo.sh: no free port" >&2; exit 1
}
BROKER=$(free_port); ELOCK=$(free_port)
DIR=$(mktemp -d /tmp/ects-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$KEEP" = 1 ]; then echo "==> kept $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

cat >"$DIR/mosquitto.conf" <<CONF
listener $BROKER 127.0.0.1
allow_anonymous true
persistence false
CONF
[ "$(id -u)" = 0 ] && echo "user root" >>"$DIR/mosquitto.conf"
mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
pids+=($!)

NOW=$(date -u +%s)
DEADLINE=$(date -u -d "@$(( NOW + 3 * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)
GEO="$PWD/config/geo"
cat >"$DIR/gateway.toml" <<CONF
[gateway]
id = "demo-truck"
board = "sim"
state_dir = "$DIR/state"

[uplink]
host = "127.0.0.1"
port = $BROKER
keep_alive_s = 5

[positions]
interval_s = 300             # one routine position per 5 minutes of drive (data frugality)

[[sources]]
name = "gps"
kind = "serial"
protocol = "nmea"
path = "$DIR/gps"             # the simulator's pseudo-terminal: a serial GPS receiver
baud = 9600

[[sources]]
name = "elock"
kind = "tcp"
protocol = "teratrack"
listen = "127.0.0.1:$ELOCK"

[monitor]
corridors = ["$GEO/northern-corridor.geojson"]
zones = ["$GEO/zones.geojson"]
stop_limit_s = 900

[[trips]]
declaration = "22MBAIM400123456"
vehicle = "KCX 123A / ZD 4567"
seals = ["022043756090"]
corridor = "northern"
origin = "mombasa-port"
destination = "kigali-icd"
deadline = "$DEADLINE"
officer = "KRA-0042"
gps = "gps"
CONF

# What central receives: one line per message, `topic payload`.
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$BROKER") 2>/dev/null && break
    sleep 0.1
done
# The file exists before `tail` opens it (the background job's redirect may come later).
: >"$DIR/central.txt"
mosquitto_sub -h 127.0.0.1 -p "$BROKER" -q 1 -v -t 'ects/v1/demo-truck/#' >>"$DIR/central.txt" &
pids+=($!)
tail -n +1 -f "$DIR/central.txt" &
pids+=($!)

# Drive time runs 120x faster than the clock; the drive is dated so that it ends about now
# (the gateway does not believe fix times ahead of its own clock).
SIM_START=$(date -u -d "@$(( NOW - 6000 ))" +%Y-%m-%dT%H:%M:%SZ)
echo "==> the truck leaves Mombasa (simulated 100 km in ~45 s)" >&2
"$BIN/ects-tools" simulate --corridor "$GEO/northern-corridor.geojson" \
    --legs "drive:30, detour:40-50@8000, drive:65, stop:25, drive:75, jam:180, end" \
    --interval-s 5 --speed-mps 25 --noise-m 10 --speedup 120 \
    --gps-out "pty:$DIR/gps" \
    --elock-out "tcp:127.0.0.1:$ELOCK" --elock-every-s 600 --elock-cut-at-km 95 \
    --start "$SIM_START" 2>"$DIR/simulate.log" &
SIM=$!
pids+=($SIM)
# The gateway opens the simulator's serial port; the e-lock connects once it listens.
for _ in $(seq 1 50); do [ -e "$DIR/gps" ] && break; sleep 0.1; done
ECTS_LOG=warn "$BIN/ects-gateway" run --config "$DIR/gateway.toml" 2>"$DIR/gateway.log" &
GW=$!
pids+=($GW)
# The whole route is 1,454 km; the demo stops the truck at 100 km.
while kill -0 "$SIM" 2>/dev/null; do
    if grep -q '"seal.tampered"' "$DIR/central.txt" 2>/dev/null; then
        sleep 8; break
    fi
    sleep 0.5
done
# A graceful stop: the gateway delivers what it holds, publishes `offline` and exits.
kill -TERM "$GW"; wait "$GW" 2>/dev/null || true
kill "$SIM" 2>/dev/null || true
sleep 1

echo >&2
echo "==> what central received, by event type" >&2
grep -o '"type":"[a-z_.]*"' "$DIR/central.txt" | sort | uniq -c | sort -rn >&2 || true
echo "==> last status: $(grep '/status ' "$DIR/central.txt" | tail -1 | cut -c1-120)" >&2
