"""`karyostudio train CONFIG|--preset NAME`: train a model with the one training engine.

CONFIG is a YAML/JSON file of karyostudio.training.config.TrainConfig settings (``extends: NAME``
starts from a preset); --preset NAME uses a named preset as is. Options override the config:
--out (output folder of the run: checkpoints, log and the exported model), --device,
--max-minutes (time budget), --data-root (base folder of relative data paths), --corrections
FOLDER (also learn from reviewed labelme files; any preset), --resume
(continue the run saved in the output folder). Multi-GPU: ``torchrun --nproc_per_node N -m
karyostudio train ...`` (only the first process prints). Ctrl-C stops after the current step and
saves a checkpoint to resume from; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from tqdm import tqdm

from karyostudio.cli import CommandError
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.io.errors import FormatError

if TYPE_CHECKING:  # the training stack (torch, torchvision) loads only when this command runs
    from karyostudio.training.config import TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", metavar="CONFIG", help="YAML or JSON training config")
    parser.add_argument("--preset", metavar="NAME", help="a named preset instead of CONFIG "
                                                         "(e.g. default-cpu, maskrcnn-r50-baseline)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in the output folder")
    parser.add_argument("--device", metavar="cpu|cuda", help="where to train (overrides the config)")
    parser.add_argument("--out", metavar="DIR", help="output folder (overrides the config)")
    parser.add_argument("--max-minutes", type=float, metavar="M", help="time budget in minutes")
    parser.add_argument("--data-root", metavar="DIR", help="base folder of relative data paths "
                                                           "(default: $KARYOSTUDIO_DATA or the working folder)")
    parser.add_argument("--corrections", action="append", default=[], metavar="FOLDER",
                        help="also learn from a folder of reviewed labelme files (may be given more than once)")


def run(args: argparse.Namespace) -> int:
    from karyostudio.models.registry import DeviceUnavailableError
    from karyostudio.training.config import ConfigError

    config = resolve_config(args)
    preflight(config)
    from karyostudio.training.engine import TrainingError, fit

    main_process = int(os.environ.get("RANK", "0")) == 0
    progress = _Progress(enabled=main_process)
    cancel = CancelToken()
    try:
        with _stop_on_interrupt(cancel):
            result = fit(config, callbacks=[progress], cancel=cancel)
    except Cancelled:
        progress.close()
        print(f"stopped; continue with: karyostudio train ... --resume --out {config.out_dir}", file=sys.stderr)
        return 130
    except (ConfigError, TrainingError, DeviceUnavailableError, FormatError) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        progress.close()
    if main_process:
        _print_summary(result)
    return 0


def preflight(config: TrainConfig) -> None:
    """Refuse, before any training, an output folder that cannot be written and data with no usable
    chromosome; remove temporary files that a killed run left in the output folder."""
    from karyostudio.io.atomic import check_writable_folder, remove_stale_temp_files
    from karyostudio.training.data_check import NoTrainingData, check_training_data

    try:
        check_writable_folder(config.out_dir)
    except FormatError as exc:
        raise CommandError(f"cannot write the training run: {exc}") from None
    remove_stale_temp_files(config.out_dir, depth=2)  # checkpoints, export/
    try:
        checks = check_training_data(config)
    except NoTrainingData as exc:
        raise CommandError(str(exc)) from None
    for check in checks:
        for line in check.skipped[:20]:
            print(f"skipped in {check.path}: {line}", file=sys.stderr)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The config named by the arguments, with the command-line overrides applied."""
    from karyostudio.training.config import ConfigError, add_labelme_source, check_config, load_config, load_preset

    if (args.config is None) == (args.preset is None):
        raise CommandError("give either a CONFIG file or --preset NAME")
    try:
        config = load_preset(args.preset) if args.preset else load_config(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    changes: dict[str, Any] = {"resume": args.resume}
    if args.device is not None:
        changes["device"] = args.device
    if args.out is not None:
        changes["out_dir"] = args.out
    if args.max_minutes is not None:
        if args.max_minutes <= 0:
            raise CommandError(f"--max-minutes must be positive, got {args.max_minutes}")
        changes["max_minutes"] = args.max_minutes
    if args.data_root is not None:
        changes["data"] = dataclasses.replace(config.data, root=args.data_root)
    config = dataclasses.replace(config, **changes)
    for folder in getattr(args, "corrections", []) or []:
        if not os.path.isdir(folder):
            raise CommandError(f"--corrections {folder}: no such folder")
        try:
            config = add_labelme_source(config, folder)
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
    try:
        check_config(config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    return config


class _Progress:
    """fit callbacks drawing a tqdm bar over training steps, with one line per epoch."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: tqdm | None = None

    def on_data_progress(self, done: int, total: int, message: str = "") -> None:
        if self.enabled and done == total:
            print(f"{message}: {total} done", file=sys.stderr)

    def on_fit_start(self, info: dict[str, Any]) -> None:
        if self.enabled:
            self.bar = tqdm(total=info.get("total_steps"), initial=info.get("start_step", 0), unit="step",
                            desc=info.get("name", "train"), file=sys.stderr, dynamic_ncols=True)

    def on_step_end(self, step: int, losses: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{losses['loss']:.3f}", refresh=False)

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        if self.bar is not None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                              if isinstance(v, float) and k not in ("lr", "minutes"))
            self.bar.write(f"epoch {epoch}: {shown}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextmanager
def _stop_on_interrupt(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl-C cancels cooperatively (checkpoint kept), the second interrupts at once."""
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        print("\nstopping after this step (Ctrl-C again to abort now)", file=sys.stderr)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _print_summary(result) -> None:
    best = ", ".join(f"{k} {v:.4g}" for k, v in result.best_metrics.items() if isinstance(v, (int, float)))
    print(f"trained {result.steps} steps, {result.epochs} epochs in {result.elapsed_s / 60:.1f} min"
          + (" (time budget reached)" if result.stopped_early else ""))
    if result.best_epoch is not None:
        print(f"best epoch {result.best_epoch}: {best or 'no validation metrics'}")
    if result.manifest is not None:
        print(f"model: {result.manifest}")
    elif result.best_checkpoint is not None:
        print(f"checkpoint: {result.best_checkpoint}")
