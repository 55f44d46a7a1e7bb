"""Entry point of the bundled (PyInstaller) application.

The same command line as ``karyostudio`` (no arguments: the desktop application on the bundled
sample). Before anything starts it checks that the bundle holds its default model and sample; a
bundle missing a part, or a start that fails, shows an error dialog (when there is a display) as
well as the message on stderr, never a silent exit: a desktop launcher has no terminal to read.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback


def missing_parts() -> list[str]:
    """Files the bundle must hold, that it does not."""
    from karyostudio.gui.app import SAMPLE_IMAGE
    from karyostudio.models.manifest import MANIFEST_SUFFIX, REPO_MODELS_DIR
    from karyostudio.models.registry import DEFAULT_MODEL

    wanted = [REPO_MODELS_DIR / f"{DEFAULT_MODEL}{MANIFEST_SUFFIX}", SAMPLE_IMAGE]
    return [str(path) for path in wanted if not path.is_file()]


def show_error(message: str) -> None:
    print(f"karyostudio: error: {message}", file=sys.stderr)
    headless = os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal") or not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("win32", "darwin"))
    if headless:
        return
    try:
        from PySide6.QtWidgets import QApplication, QMessageBox

        app = QApplication.instance() or QApplication([sys.argv[0]])
        QMessageBox.critical(None, "karyostudio", message)
        del app
    except Exception:  # noqa: BLE001 - the message is on stderr already
        pass


def main() -> int:
    try:
        missing = missing_parts()
        if missing:
            show_error("this installation is incomplete; reinstall karyostudio. Missing: " + ", ".join(missing))
            return 2
        from karyostudio.cli import main as cli_main

        return cli_main()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - last resort: say what happened
        traceback.print_exc()
        show_error(f"karyostudio could not start: {type(exc).__name__}: {exc}")
        return 2


if __name__ == "__main__":
    multiprocessing.freeze_support()  # crop building and data loading use worker processes
    sys.exit(main())
