"""The check of Qt's xcb plugin libraries before the application starts on X11."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from karyostudio.gui import platform_libraries as pl

LDD_OUTPUT = textwrap.dedent("""\
    \tlinux-vdso.so.1 (0x00007ffd5f9e4000)
    \tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f2c1a000000)
    \tlibxcb-icccm.so.4 => not found
    \tlibxcb-keysyms.so.1 => not found
    \tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f2c19e00000)
    \tlibxcb-icccm.so.4 => not found
    \t/lib64/ld-linux-x86-64.so.2 (0x00007f2c1a400000)
    """)


def test_missing_libraries_are_read_from_ldd_once_each():
    assert pl.missing_from_ldd(LDD_OUTPUT) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert pl.missing_from_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_the_message_names_the_real_culprits_and_the_install_command():
    message = pl.xcb_problem(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in message
    assert "cursor" not in message  # not the library Qt's own abort message blames
    assert pl.xcb_problem([]) is None
    unknown = pl.xcb_problem(["libweird.so.3"])
    assert "libweird.so.3" in unknown and "apt install" not in unknown


def test_packages_are_found_by_library_name_not_prefix():
    assert pl.package_for("libxcb-render-util.so.0") == "libxcb-render-util0"
    assert pl.package_for("libxcb-render.so.0") == "libxcb-render0"
    assert pl.package_for("libxcb.so.1") == "libxcb1"
    assert pl.package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 platform check is Linux-only")
@pytest.mark.parametrize("env, expected", [
    ({"DISPLAY": ":0"}, True),
    ({}, False),
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, False),
    ({"QT_QPA_PLATFORM": "xcb"}, True),
    ({"QT_QPA_PLATFORM": "xcb:dpi=96"}, True),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, False),
])
def test_the_check_runs_only_where_qt_starts_xcb(env, expected):
    assert pl.will_use_xcb(env) is expected


@pytest.mark.skipif(shutil.which("ldd") is None or not pl.xcb_plugin_files(), reason="needs ldd and PySide6's xcb plugin")
def test_the_check_agrees_with_the_dynamic_linker_on_this_machine():
    """Load the real plugin in a fresh interpreter: it fails exactly when the check finds a library missing."""
    missing = pl.missing_xcb_libraries()
    plugin = pl.xcb_plugin_files()[0]
    load = subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(plugin)!r})"],
                          capture_output=True, text=True, timeout=60)
    if missing:
        assert load.returncode != 0
        assert any(name in load.stderr for name in missing), load.stderr
    else:
        assert load.returncode == 0, load.stderr


@pytest.mark.slow  # a fresh interpreter that imports the application
def test_the_app_refuses_to_start_qt_without_the_libraries(tmp_path):
    """With libraries missing the command exits with status 2 and the install line, not Qt's abort."""
    script = textwrap.dedent("""\
        import sys
        import karyostudio.gui.app as app
        app.missing_xcb_libraries = lambda: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
        from karyostudio.cli import main
        sys.exit(main(["gui"]))
        """)
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":97", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "KARYOSTUDIO_RECOVERY_DIR": str(tmp_path / "recovery")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in result.stderr
