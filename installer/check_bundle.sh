#!/usr/bin/env bash
# Check a built bundle as a user would get it: unpack the tarball into a clean folder and, in a
# bare environment (env -i: no PATH, no HOME, no display, no network settings), render the bundled
# sample analysed by the default model with the launcher's --screenshot. Passes when the PNG is
# written, has the window's size and is not blank, and nothing was written inside the bundle.
#
# usage: installer/check_bundle.sh dist/karyostudio-VERSION-linux-x86_64[-cpu].tar.zst [KEEP.png]
#   KEEP.png: where to keep a copy of the screenshot
set -euo pipefail
TARBALL="$(realpath "$1")"
CLEAN="$(mktemp -d)"
trap 'rm -rf "$CLEAN"' EXIT
started=$(date +%s)
case "$TARBALL" in
  *.zst) zstd -q -dc "$TARBALL" | tar -C "$CLEAN" -xf - ;;
  *) tar -C "$CLEAN" -xzf "$TARBALL" ;;
esac
APP="$(echo "$CLEAN"/karyostudio-*)"
chmod -R a-w "$APP"  # a bundle that writes into itself fails here
mkdir "$CLEAN/home"
env -i HOME="$CLEAN/home" "$APP/karyostudio" --screenshot "$CLEAN/home/shot.png"
python3 - "$CLEAN/home/shot.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
width, height = struct.unpack(">II", data[16:24])
assert (width, height) == (1400, 900), f"window size {width}x{height}"
assert len(data) > 50_000, f"{len(data)} bytes: a blank window?"
print(f"screenshot {width}x{height}, {len(data)} bytes")
PY
echo "settings, recovery and runs went to: $(cd "$CLEAN/home" && find . -mindepth 1 -maxdepth 3 -type d | sort | tr '\n' ' ')"
cp "$CLEAN/home/shot.png" "${2:-/dev/null}" 2>/dev/null || true
echo "bundle check passed in $(( $(date +%s) - started )) s"
