"""Persistent user settings (window layout, last folder, chosen model) in an INI file.

INI format everywhere, so tests can redirect it with QSettings.setPath and users can read it.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

APP_NAME = "karyostudio"


def app_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, APP_NAME, APP_NAME)
