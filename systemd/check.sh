#!/usr/bin/env bash
# Checks the files in systemd/ with systemd's own tools (run by .ci/run after the tests; needs
# systemd-analyze, systemd-sysusers and systemd-tmpfiles, not a running systemd):
# - `systemd-analyze verify --man=no` of farod.service must print nothing on stderr. It checks
#   that ExecStart= exists, so it runs against a scratch root holding this host's units and the
#   farod just built as /usr/bin/farod (nothing is installed on the host);
# - `systemd-analyze security --offline=true --threshold=15`: exposure 1.5 or better;
# - farod.sysusers and farod.tmpfiles applied to a scratch root give the faro user, the
#   operators' group faro-desk (farod's socket group) and a /etc/faro only root and faro can
#   read;
# - the udev rule, with `udevadm verify` where systemd is new enough (253) to have it.
set -euo pipefail
cd "$(dirname "$0")/.."

farod=${FAROD:-${CARGO_TARGET_DIR:-target}/debug/farod}
[ -x "$farod" ] || cargo build -q -p farod --bin farod
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "verify: farod.service (with $farod as /usr/bin/farod)"
root=$scratch/root
units=/usr/lib/systemd/system
[ -d "$units" ] || units=/lib/systemd/system
mkdir -p "$root/usr/lib/systemd"
cp -a "$units" "$root/usr/lib/systemd/system"
install -D -m 0755 "$farod" "$root/usr/bin/farod"
install -D -m 0644 systemd/farod.service "$root/usr/lib/systemd/system/farod.service"
systemd-analyze verify --man=no --root="$root" farod.service 2>"$scratch/verify.err" || {
    cat "$scratch/verify.err" >&2
    echo "systemd-analyze verify failed" >&2
    exit 1
}
if [ -s "$scratch/verify.err" ]; then
    cat "$scratch/verify.err" >&2
    echo "systemd-analyze verify printed warnings" >&2
    exit 1
fi

echo "security: farod.service"
systemd-analyze security --offline=true --threshold=15 systemd/farod.service >"$scratch/security.out" 2>&1 || {
    cat "$scratch/security.out" >&2
    echo "farod.service exposes more than 1.5" >&2
    exit 1
}
grep 'Overall exposure' "$scratch/security.out"

echo "sysusers and tmpfiles: a scratch root"
etc=$scratch/etc-root
mkdir -p "$etc/etc/faro"
cp /etc/passwd /etc/group "$etc/etc/"
touch "$etc/etc/shadow" "$etc/etc/gshadow" "$etc/etc/faro/faro.toml"
systemd-sysusers --root="$etc" "$PWD/systemd/farod.sysusers"
grep -q '^faro:x:[0-9]*:[0-9]*:.*:/var/lib/faro:/usr/sbin/nologin$' "$etc/etc/passwd"
grep -q '^dialout:.*faro' "$etc/etc/group"
grep -q '^faro-desk:x:[0-9]*:faro$' "$etc/etc/group"
grep -q '^Environment=FARO_SOCKET_GROUP=faro-desk$' systemd/farod.service
systemd-tmpfiles --root="$etc" --create "$PWD/systemd/farod.tmpfiles"
faro_gid=$(awk -F: '$1 == "faro" { print $3 }' "$etc/etc/group")
[ "$(stat -c '%a %u %g' "$etc/etc/faro")" = "750 0 $faro_gid" ]
[ "$(stat -c '%a %u %g' "$etc/etc/faro/faro.toml")" = "640 0 $faro_gid" ]

if udevadm verify --help >/dev/null 2>&1; then
    echo "udev: 60-faro-radios.rules"
    udevadm verify systemd/60-faro-radios.rules
else
    echo "udev: skipped (udevadm verify needs systemd 253 or later)"
fi
echo "systemd files ok"
