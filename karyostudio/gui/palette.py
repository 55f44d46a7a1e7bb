"""Class colours: one fixed colour per chromosome class, the same in every view and export.

Kelly's colours of maximum contrast (without white, black and grey) plus four more, in
karyogram order, so neighbouring classes (which are also similar in size) differ clearly.
"""

from __future__ import annotations

from PySide6.QtGui import QColor

from karyostudio.core.classes import class_index

CLASS_COLOURS: tuple[str, ...] = (
    "#be0032", "#f3c300", "#0067a5", "#f38400", "#875692", "#008856", "#e68fac", "#a1caf1",
    "#8db600", "#882d17", "#f99379", "#604e97", "#f6a600", "#b3446c", "#dcd300", "#654522",
    "#e25822", "#2b3d26", "#c2b280", "#00a0b0", "#1e90ff", "#ff00ff", "#00ced1", "#7fff00",
)
UNLABELED_COLOUR = "#d0d0d0"


def class_colour(label: str | None) -> QColor:
    """The colour of a class name, or a light grey for an unnamed outline."""
    if label is None:
        return QColor(UNLABELED_COLOUR)
    return QColor(CLASS_COLOURS[class_index(label)])
