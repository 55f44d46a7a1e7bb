"""Where the program's own files are, and where the user's go instead.

Files shipped with karyostudio (the bundled samples under resources/, the default models under
models/, the package itself) are never written by the app: saving the bundled sample asks for
a place in the user's documents folder, and training writes into the user's data folder
(``$XDG_DATA_HOME/karyostudio/training``, beside the user's model folder), wherever the program
is installed and whatever the working directory is.
"""

from __future__ import annotations

import os
from pathlib import Path

import karyostudio
from karyostudio.models.manifest import user_model_dir

PACKAGE_DIR = Path(karyostudio.__file__).resolve().parent
PROGRAM_ROOT = PACKAGE_DIR.parent
SHIPPED_DIRS = (PROGRAM_ROOT / "resources", PROGRAM_ROOT / "models", PACKAGE_DIR)


def _resolved(path: Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except OSError:
        return Path(path).expanduser().absolute()


def is_shipped(path: Path | None) -> bool:
    """True for a path among the program's own files (which the app must not write)."""
    if path is None:
        return False
    target = _resolved(path)
    return any(target == d or d in target.parents for d in (_resolved(p) for p in SHIPPED_DIRS))


def user_data_dir() -> Path:
    """The user's karyostudio data folder (models, training runs)."""
    return user_model_dir().parent


def user_training_dir() -> Path:
    return user_data_dir() / "training"


def user_documents_dir() -> Path:
    """Where the app suggests saving files that may not go beside their image (the bundled sample)."""
    documents = Path.home() / "Documents"
    base = documents if documents.is_dir() else Path.home()
    return base / "karyostudio"


def in_user_folder(path: Path) -> Path:
    """The same file name in the user's documents folder (created when needed)."""
    folder = Path(os.environ.get("KARYOSTUDIO_DOCUMENTS") or user_documents_dir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path.home()
    return folder / Path(path).name
