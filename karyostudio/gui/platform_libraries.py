"""Before Qt starts on Linux/X11: are the system libraries of Qt's xcb platform plugin there?

Without them Qt aborts the process with a message that names one library (often xcb-cursor0,
even when that one is present and another is missing). This module asks the dynamic linker
(``ldd``) which libraries of the plugin cannot be found and turns them into the Debian/Ubuntu
packages to install, so the user reads one line with the exact command. Qt-free: it only
locates PySide6's files, it never loads them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Shared-object name (without its version) -> Debian/Ubuntu package.
DEBIAN_PACKAGES = {
    "libxcb-cursor": "libxcb-cursor0",
    "libxcb-icccm": "libxcb-icccm4",
    "libxcb-keysyms": "libxcb-keysyms1",
    "libxcb-image": "libxcb-image0",
    "libxcb-render-util": "libxcb-render-util0",
    "libxcb-randr": "libxcb-randr0",
    "libxcb-shape": "libxcb-shape0",
    "libxcb-shm": "libxcb-shm0",
    "libxcb-sync": "libxcb-sync1",
    "libxcb-xfixes": "libxcb-xfixes0",
    "libxcb-xinerama": "libxcb-xinerama0",
    "libxcb-xinput": "libxcb-xinput0",
    "libxcb-xkb": "libxcb-xkb1",
    "libxcb-render": "libxcb-render0",
    "libxcb-util": "libxcb-util1",
    "libxcb": "libxcb1",
    "libX11-xcb": "libx11-xcb1",
    "libX11": "libx11-6",
    "libxkbcommon-x11": "libxkbcommon-x11-0",
    "libxkbcommon": "libxkbcommon0",
    "libSM": "libsm6",
    "libICE": "libice6",
    "libEGL": "libegl1",
    "libGL": "libgl1",
    "libGLX": "libglx0",
    "libGLdispatch": "libglvnd0",
    "libXau": "libxau6",
    "libXdmcp": "libxdmcp6",
    "libpng16": "libpng16-16",
    "libOpenGL": "libopengl0",
    "libfontconfig": "libfontconfig1",
    "libfreetype": "libfreetype6",
    "libdbus-1": "libdbus-1-3",
    "libglib-2.0": "libglib2.0-0",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def missing_from_ldd(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` reports as "not found", each once, in order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def package_for(soname: str) -> str | None:
    """The Debian/Ubuntu package that ships a library ("libxcb-icccm.so.4" -> "libxcb-icccm4")."""
    return DEBIAN_PACKAGES.get(soname.split(".so", 1)[0])


def xcb_plugin_files() -> list[Path]:
    """PySide6's xcb platform plugin and its Qt integration library (those that exist)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return []
    qt = Path(spec.origin).parent / "Qt"
    candidates = [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))[:1]]
    return [p for p in candidates if p.is_file()]


def missing_xcb_libraries(files: list[Path] | None = None) -> list[str]:
    """System libraries the xcb plugin needs and the linker cannot find (empty if unknown)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    output = []
    for path in xcb_plugin_files() if files is None else files:
        try:
            output.append(subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20).stdout)
        except (OSError, subprocess.SubprocessError):
            continue
    return missing_from_ldd("\n".join(output))


def will_use_xcb(environ: dict[str, str] | None = None) -> bool:
    """True where Qt is going to start its xcb (X11) platform."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":", 1)[0] == "xcb"
    return bool(env.get("DISPLAY")) and not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland")


def xcb_problem(missing: list[str]) -> str | None:
    """A message naming the missing libraries and the install command, or None when none are missing."""
    if not missing:
        return None
    packages = sorted({package_for(name) for name in missing} - {None})
    unknown = [name for name in missing if package_for(name) is None]
    lines = [f"Qt's X11 (xcb) platform cannot start: missing system libraries {', '.join(missing)}."]
    if packages:
        lines.append(f"Install them with: sudo apt install {' '.join(packages)}")
    if unknown:
        lines.append(f"(on other systems, install the packages that provide {', '.join(unknown)})")
    lines.append("Without a display, karyostudio predict and karyostudio --screenshot OUT.png work as they are.")
    return "\n".join(lines)
