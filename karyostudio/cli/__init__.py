"""The one command-line entry point: ``karyostudio [COMMAND] ...``.

Each command lives in its own module here with ``add_arguments(parser)`` and ``run(args)``.
Modules are imported when their command runs so ``karyostudio --help`` stays fast and a
command's heavy dependencies (torch, Qt) load only when needed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from karyostudio.io.errors import FormatError

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("gui", "open the desktop application (default when no command is given)"),
    "predict": ("predict", "segment and classify metaphase images; write labelme JSON, karyograms, summary.csv"),
    "evaluate": ("evaluate", "compare predictions with ground truth (mAP@50, AJI, PQ, detection metrics)"),
    "train": ("train", "train a model from a config file or a named preset"),
    "convert": ("convert", "convert annotations between labelme, Pascal VOC and COCO"),
    "synth": ("synth", "generate synthetic G-banded metaphases with full ground truth"),
    "models": ("models", "list the registered models and their manifests"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="karyostudio",
        description="Metaphase chromosome segmentation, classification and karyogram review.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"karyostudio.cli.{module_name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CommandError as exc:
        print(f"karyostudio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FormatError as exc:  # a file a command could not read or write: the message names it
        print(f"karyostudio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"karyostudio {args.command}: error: out of memory (the input is too large for this machine)",
              file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only file system, a missing permission
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"karyostudio {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


class CommandError(Exception):
    """A user-facing failure of a command: printed without a traceback, exit status 2."""
