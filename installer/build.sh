#!/usr/bin/env bash
# Build the one-folder karyostudio bundle with PyInstaller and pack it for Linux x86-64:
#   dist/karyostudio-VERSION-linux-x86_64[-cpu].tar.zst (or .tar.gz where zstd is missing)
# holding karyostudio-VERSION/ with the launcher `karyostudio`, a .desktop entry, the icon and the
# app/ folder. A size report is written beside it (…-size.txt).
#
# usage: installer/build.sh [--no-cuda]
#   --no-cuda   a CPU-only bundle, about 3 GB smaller: needs a CPU build of torch in the build
#               environment (pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cpu);
#               PyPI's Linux torch is linked against CUDA and cannot run without its libraries
# The Python that builds is $PYTHON, else .venv/bin/python of the checkout (installed with
# `pip install -e '.[installer]'`, which this script does).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
NO_CUDA=0
for arg in "$@"; do
  case "$arg" in
    --no-cuda) NO_CUDA=1 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "build.sh builds on Linux x86-64 only; see installer/README.md for Windows and macOS" >&2; exit 2; }
[ -x "$PY" ] || { echo "build.sh: no Python at $PY (create .venv first, see README.md)" >&2; exit 2; }

started=$(date +%s)
"$PY" -m pip install -q -e "$ROOT[installer]"
TORCH_CUDA="$("$PY" -c 'import torch; print(torch.version.cuda or "")')"
if [ "$NO_CUDA" = 1 ] && [ -n "$TORCH_CUDA" ]; then
  echo "build.sh --no-cuda: the build environment's torch is built for CUDA $TORCH_CUDA and needs its libraries;" >&2
  echo "  install a CPU build first: $PY -m pip install torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu" >&2
  exit 2
fi
SUFFIX="$([ -z "$TORCH_CUDA" ] && echo -cpu || true)"  # a CPU build of torch makes a CPU bundle
VERSION="$("$PY" -c 'from importlib.metadata import version; print(version("karyostudio"))')"
NAME="karyostudio-$VERSION"
WORK="$ROOT/build/installer"
DIST="$ROOT/dist"
rm -rf "$WORK/stage"
mkdir -p "$WORK" "$DIST" "$WORK/stage/$NAME"

"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$WORK/pyinstaller-dist" --workpath "$WORK/pyinstaller-work" "$ROOT/installer/karyostudio.spec"

STAGE="$WORK/stage/$NAME"
mv "$WORK/pyinstaller-dist/karyostudio" "$STAGE/app"
install -m 755 "$ROOT/installer/launcher.sh" "$STAGE/karyostudio"
install -m 644 "$ROOT/installer/karyostudio.png" "$STAGE/karyostudio.png"
install -m 755 "$ROOT/installer/install-desktop-entry.sh" "$STAGE/install-desktop-entry.sh"
sed "s/@VERSION@/$VERSION/" "$ROOT/installer/karyostudio.desktop.in" > "$STAGE/karyostudio.desktop"
cp "$ROOT/installer/README.md" "$STAGE/README.md"

TARBALL="$DIST/$NAME-linux-x86_64$SUFFIX.tar"
if command -v zstd >/dev/null; then
  TARBALL="$TARBALL.zst"; tar -C "$WORK/stage" -cf - "$NAME" | zstd -q -T0 -10 -o "$TARBALL" -f
else
  TARBALL="$TARBALL.gz"; tar -C "$WORK/stage" -czf "$TARBALL" "$NAME"
fi

REPORT="${TARBALL%.tar.*}-size.txt"
{
  echo "karyostudio $VERSION bundle, built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -srm), CUDA: ${TORCH_CUDA:-none (CPU build of torch)}"
  echo "unpacked: $(du -sh "$STAGE" | cut -f1)   tarball: $(du -h "$TARBALL" | cut -f1) ($(basename "$TARBALL"))"
  echo "build time: $(( $(date +%s) - started )) s"
  echo "largest parts of app/_internal:"
  du -s "$STAGE/app/_internal"/* | sort -rn | head -12 | awk '{printf "  %8.0f MB  %s\n", $1/1024, $2}' | sed "s|$STAGE/||"
} | tee "$REPORT"
echo "$TARBALL"
