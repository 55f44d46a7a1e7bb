"""Starting the desktop application: the QApplication, the first document, screenshot mode.

``launch`` is what ``karyostudio gui`` calls. Without a file it opens the bundled sample
metaphase. In screenshot mode it runs without any blocking dialog, waits for an --auto model
run to finish, writes the window as a PNG (atomically) and returns.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QTimer
from PySide6.QtWidgets import QApplication

import karyostudio
from karyostudio.io.atomic import atomic_write_bytes, check_replaceable, check_writable_folder
from karyostudio.io.errors import FormatError
from karyostudio.gui.dialogs.messages import non_interactive
from karyostudio.gui import gui_thread_gc
from karyostudio.gui.main_window import MainWindow
from karyostudio.gui.platform_libraries import missing_xcb_libraries, will_use_xcb, xcb_problem
from karyostudio.gui.settings import APP_NAME
from karyostudio.gui.thread_runner import exit_process

SAMPLES_DIR = Path(karyostudio.__file__).resolve().parents[1] / "resources" / "samples"
SAMPLE_IMAGE = SAMPLES_DIR / "taichung_103064.jpg"  # a real cell (CC BY 4.0, see its README)
SCREENSHOT_SIZE = (1400, 900)


class LaunchError(Exception):
    """The application could not do what the command line asked (message for the user)."""


@dataclass(frozen=True)
class LaunchOptions:
    file: Path | None = None
    model: str | None = None
    screenshot: Path | None = None
    auto: bool = False
    karyogram: bool = False  # show the karyogram dock, large
    split_clusters: bool | None = None  # None: keep the user's setting


def create_application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    gui_thread_gc.install(app)  # model and training workers must never run Qt destructors
    return app


def launch(options: LaunchOptions) -> int:
    if options.file is not None and not options.file.exists():
        raise LaunchError(f"no such file: {options.file}")
    headless = (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
                and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")))
    if options.screenshot is not None:
        try:  # before any rendering: a read-only target fails at once, in one line
            check_writable_folder(options.screenshot.parent if str(options.screenshot.parent) else Path("."))
            check_replaceable(options.screenshot)
        except FormatError as exc:
            raise LaunchError(f"cannot write the screenshot: {exc}") from None
        if headless:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        check_platform_libraries()
        with non_interactive():
            return _screenshot(options)
    if headless:
        raise LaunchError("no display found (DISPLAY and WAYLAND_DISPLAY are unset); "
                          "use --screenshot OUT.png to render the window without one")
    check_platform_libraries()
    app = create_application()
    window = MainWindow()
    window.models.refresh(preferred=options.model)
    if options.split_clusters is not None:
        window.models.split_action.setChecked(options.split_clusters)
    window.show()
    open_initial(window, options.file)
    if options.karyogram:
        window.karyogram.show_dock()
    QTimer.singleShot(0, window.files.offer_recovery)
    if options.auto:
        QTimer.singleShot(0, window.models.run)
    return exit_process(app.exec())


def check_platform_libraries() -> None:
    """Refuse to start Qt's X11 platform without its system libraries (Qt would abort the process
    with a misleading message); the error names the packages to install."""
    if QApplication.instance() is None and will_use_xcb():
        problem = xcb_problem(missing_xcb_libraries())
        if problem:
            raise LaunchError(problem)


def open_initial(window: MainWindow, file: Path | None) -> bool:
    """Open the given file, else the bundled sample; say so when there is nothing to open."""
    if file is not None:
        return window.files.open_path(file)
    if SAMPLE_IMAGE.is_file():
        return window.files.open_path(SAMPLE_IMAGE)
    window.status.message(f"the bundled sample image is missing ({SAMPLE_IMAGE}); open an image with Ctrl+O", 0)
    return False


def _screenshot(options: LaunchOptions) -> int:
    app = create_application()
    window = MainWindow()
    window.models.refresh(preferred=options.model)
    if options.split_clusters is not None:
        window.models.split_action.setChecked(options.split_clusters)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    if not open_initial(window, options.file) and options.file is not None:
        window.discard_and_close()
        raise LaunchError(f"could not open {options.file}")
    status = 0
    if options.auto:
        failures: list[str] = []
        window.models.runner.failed.connect(failures.append)
        if not window.models.run():
            failures.append("the model run could not start")
        window.models.runner.wait()
        status = 1 if failures else 0
    app.processEvents()
    if options.karyogram:
        window.karyogram.show_for_screenshot()
    else:  # the karyogram beside the metaphase: its debounced update must not miss the grab
        window.karyogram.catch_up()
    app.processEvents()
    window.view.fit_to_window()
    app.processEvents()
    try:
        write_screenshot(window, options.screenshot)
    except FormatError as exc:
        raise LaunchError(f"cannot write the screenshot: {exc}") from None
    finally:
        window.discard_and_close()
    return status


def write_screenshot(window: MainWindow, path: Path) -> None:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not window.grab().save(buffer, "PNG"):
        raise LaunchError("could not render the window")
    buffer.close()
    atomic_write_bytes(path, bytes(data.data()))
