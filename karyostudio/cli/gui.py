"""`karyostudio gui [FILE] [--model NAME] [--screenshot OUT.png] [--auto] [--karyogram] [--split-clusters]`: the desktop application.

Without FILE the bundled sample metaphase opens. --auto runs the model at once. --screenshot
renders the window to a PNG and exits without showing any dialog (errors go to stderr); with
--auto it waits for the model first. Exit status: 0, 1 when --auto was asked in screenshot mode
and the model run failed, 2 for a file that does not exist or cannot be opened.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from karyostudio.cli import CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path,
                        help="image (PNG, JPEG, BMP, TIFF) or labelme JSON to open (default: the bundled sample)")
    parser.add_argument("--model", metavar="NAME",
                        help="model for Run model (a name from `karyostudio models`, or a manifest path)")
    parser.add_argument("--screenshot", metavar="OUT.png", type=Path,
                        help="render the window to this PNG file and exit")
    parser.add_argument("--auto", action="store_true", help="run the model on the image right away")
    parser.add_argument("--karyogram", action="store_true", help="show the karyogram (large) in the window")
    parser.add_argument("--split-clusters", action=argparse.BooleanOptionalAction, default=None,
                        help="split crossing clusters with the ChromSeg splitter after the model "
                             "(default: as last chosen in Analysis > Split crossing clusters)")


def run(args: argparse.Namespace) -> int:
    # Qt loads only when the GUI really starts.
    from karyostudio.gui.app import LaunchError, LaunchOptions, launch

    try:
        return launch(LaunchOptions(file=args.file, model=args.model, screenshot=args.screenshot, auto=args.auto,
                                    karyogram=args.karyogram, split_clusters=args.split_clusters))
    except LaunchError as exc:
        raise CommandError(str(exc)) from exc
