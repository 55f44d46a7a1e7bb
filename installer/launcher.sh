#!/bin/sh
# karyostudio launcher (the bundle's top level). Arguments as for the `karyostudio` command;
# no arguments: the desktop application on the bundled sample.
#   karyostudio --screenshot OUT.png   renders the sample analysed by the default model (offscreen,
#                                      no display needed) into OUT.png and exits
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -eq 2 ] && [ "$1" = "--screenshot" ]; then
  QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
  export QT_QPA_PLATFORM
  set -- gui --auto --screenshot "$2"
fi
# A bare environment (a desktop launcher, env -i) still gets a home and a PATH for helper tools.
if [ -z "${HOME:-}" ]; then HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"; export HOME; fi
PATH="${PATH:-/usr/bin:/bin}"; export PATH
exec "$HERE/app/karyostudio" "$@"
