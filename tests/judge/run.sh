#!/usr/bin/env bash
# Independent judge of faro-sim: the official Meshtastic Python client (CLI and API) must take
# the simulated station device for a real one, over TCP and over a PTY.
#
#   bash tests/judge/run.sh
#
# 1. builds faro-sim (debug; JUDGE_RELEASE=1 for release), respecting CARGO_TARGET_DIR
#    (default: <repo>/target);
# 2. creates a venv (JUDGE_VENV, default: <target>/judge-venv; reused when it already has the
#    right version) and installs meshtastic==2.7.11 with pip (needs the network, so this runs
#    outside the namespace);
# 3. inside a loopback-only network namespace (unshare -n; needs root, as in CI) runs:
#    `meshtastic --host ... --info` against `faro-sim device --tcp 127.0.0.1:0`,
#    `meshtastic --port /dev/pts/N --info` against `faro-sim device --pty --fault log-text`,
#    and judge.py (the Python API: reliable DM, wait for the destination's ACK) over both.
# Every wait is bounded; the simulators are killed on exit. One PASS/FAIL line per check;
# exit status non-zero if any check failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
PROFILE=debug
[ "${JUDGE_RELEASE:-0}" = 1 ] && PROFILE=release
VENV=${JUDGE_VENV:-$TARGET/judge-venv}
MESHTASTIC_VERSION=2.7.11
SIM="$TARGET/$PROFILE/faro-sim"
OWNER="Grupo Beta Sásabe"

if [ "${1:-}" != "--inside" ]; then
    echo "== building faro-sim ($PROFILE, target $TARGET)"
    build=(cargo build -p faro-sim --bin faro-sim)
    [ "$PROFILE" = release ] && build+=(--release)
    (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" "${build[@]}")

    have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("meshtastic"))' 2>/dev/null || true)
    if [ "$have" != "$MESHTASTIC_VERSION" ]; then
        echo "== creating venv $VENV with meshtastic==$MESHTASTIC_VERSION"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "meshtastic==$MESHTASTIC_VERSION"
    else
        echo "== reusing venv $VENV (meshtastic $have)"
    fi

    export JUDGE_SIM="$SIM" JUDGE_VENV_DIR="$VENV"
    if [ "$(id -u)" = 0 ]; then
        exec unshare -n -- bash "$HERE/run.sh" --inside
    else
        # Not root: map ourselves to root in a user namespace to get a network namespace.
        exec unshare -rn -- bash "$HERE/run.sh" --inside
    fi
fi

# ---- inside the loopback-only network namespace -------------------------------------------
SIM=$JUDGE_SIM
VENV=$JUDGE_VENV_DIR
ip link set lo up
WORK=$(mktemp -d "${TMPDIR:-/tmp}/faro-judge.XXXXXX")
PIDS=()
FAILED=0

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILED=1; }

# start_sim NAME ARGS...: starts faro-sim, waits (bounded) for its first stdout line, and sets
# ADDR to it. Logs go to $WORK/NAME.log.
start_sim() {
    local name=$1
    shift
    "$SIM" device "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
    PIDS+=($!)
    ADDR=
    for _ in $(seq 100); do
        if [ -s "$WORK/$name.out" ]; then
            ADDR=$(head -n1 "$WORK/$name.out")
            [ -n "$ADDR" ] && return 0
        fi
        sleep 0.1
    done
    echo "faro-sim ($name) printed no address in 10 s; its log:" >&2
    tail -n 20 "$WORK/$name.log" >&2 || true
    return 1
}

# info_check NAME ARGS...: `meshtastic ARGS --info` must exit 0 and print the owner.
info_check() {
    local name=$1
    shift
    local rc=0
    timeout 90 "$VENV/bin/meshtastic" "$@" --info >"$WORK/$name.txt" 2>&1 || rc=$?
    if [ "$rc" = 0 ] && grep -q "^Owner: $OWNER (SAS)" "$WORK/$name.txt"; then
        pass "$name: meshtastic $* --info exits 0 and prints \"Owner: $OWNER (SAS)\""
    else
        fail "$name: meshtastic $* --info exited $rc; output:"
        head -n 40 "$WORK/$name.txt" | sed 's/^/    /'
    fi
}

echo "== CLI over TCP"
if start_sim tcp --tcp 127.0.0.1:0 --speed 5; then
    pass "tcp: faro-sim listens on $ADDR"
    info_check tcp-info --host "$ADDR"
    echo "== Python API over TCP"
    if timeout 180 "$VENV/bin/python" "$HERE/judge.py" --host "$ADDR" --label tcp; then
        pass "tcp-api: judge.py"
    else
        fail "tcp-api: judge.py"
    fi
else
    fail "tcp: faro-sim did not start"
fi

echo "== CLI over a PTY (device log text between frames)"
if start_sim pty --pty --link "$WORK/radio" --fault log-text --speed 5; then
    pty=$(readlink "$ADDR")
    pass "pty: faro-sim serves $pty (link $ADDR)"
    info_check pty-info --port "$pty"
    echo "== Python API over the PTY"
    # One retry, said out loud: once in about ten CI runs the client saw no routing ACK from
    # the destination within 60 s over the PTY with log text between frames, while the
    # destination's scripted reply arrived (not reproduced in 8 runs on an idle machine; under
    # investigation). A second failure fails the judge.
    if timeout 180 "$VENV/bin/python" "$HERE/judge.py" --port "$pty" --label pty; then
        pass "pty-api: judge.py"
    elif echo "RETRY pty-api: judge.py failed once; running it again" \
        && timeout 180 "$VENV/bin/python" "$HERE/judge.py" --port "$pty" --label pty-retry; then
        pass "pty-api: judge.py (second attempt)"
    else
        fail "pty-api: judge.py"
    fi
else
    fail "pty: faro-sim did not start"
fi

echo "== CLI over a PTY with every fault (log text, stray headers, one-byte writes, corrupt frames)"
if start_sim pty-faults --pty --fault all --no-timeline; then
    info_check pty-faults-info --port "$ADDR"
else
    fail "pty-faults: faro-sim did not start"
fi

if [ "$FAILED" = 0 ]; then
    echo "JUDGE: PASS"
else
    echo "JUDGE: FAIL"
fi
exit "$FAILED"
