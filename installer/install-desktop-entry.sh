#!/bin/sh
# Add karyostudio to the desktop's application menu (for this user), pointing at this folder.
# Run it again after moving the folder.
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$APPS"
sed -e "s|@LAUNCHER@|\"$HERE/karyostudio\"|" -e "s|@ICON@|$HERE/karyostudio.png|" "$HERE/karyostudio.desktop" > "$APPS/karyostudio.desktop.tmp"
mv "$APPS/karyostudio.desktop.tmp" "$APPS/karyostudio.desktop"
echo "added $APPS/karyostudio.desktop"
