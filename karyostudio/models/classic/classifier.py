"""A small CNN that names single chromosome crops (24 classes), with its checkpoint format.

Input: straightened darkness crops from :mod:`karyostudio.models.classic.crops` plus the
cell-relative scalar features (length, area, ...). The banding pattern is read by a few conv
blocks; the feature map is averaged across the chromosome's width but kept in a few bins along
its length, so the position of bands along the axis survives pooling. The scalar features join
just before the classification head.

Checkpoints are a plain dict (format tag, version, config dict, state_dict with float tensors
stored as fp16, temperature, free-form metrics) that ``torch.load(path, weights_only=True)``
reads without trusting pickled code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from karyostudio.core.classes import CLASS_NAMES, NUM_CLASSES
from karyostudio.io.atomic import atomic_open
from karyostudio.io.errors import CheckpointError
from karyostudio.models.classic.crops import DEFAULT_OUT_SIZE, FEATURE_NAMES, NUM_FEATURES, box_crops, cell_crops

CHECKPOINT_FORMAT = "karyostudio.chromosome-classifier"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class BoxReading:
    """How a detector's box is read: once per scale of the box about its centre, probabilities averaged.

    A detector's box is never exactly the annotated box the classifier learned most from; a box a
    little too tight cuts a small chromosome's ends off its mask, one a little loose takes in a
    neighbour. Reading the box also 10 % smaller and 12 % larger makes the reading less hostage
    to that (the Y, small and pale, suffered most). ``(1.0,)`` reads the box as it is.
    """

    scales: tuple[float, ...] = (1.0,)
    mirrored: bool = False  # also read each crop's mirror image (end_logits)

    def __post_init__(self) -> None:
        if not self.scales or not all(isinstance(s, (int, float)) and not isinstance(s, bool)
                                      and 0.5 <= s <= 2.0 for s in self.scales):
            raise TypeError(f"box reading scales must be one or more numbers in [0.5, 2], got {self.scales!r}")


def scaled_boxes(boxes: Sequence[Sequence[float]], scale: float) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 boxes scaled by ``scale`` about their centres."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centre, half = (b[:, :2] + b[:, 2:]) / 2, (b[:, 2:] - b[:, :2]) / 2 * scale
    return np.c_[centre - half, centre + half]


# Chromosomes far larger than any training cell's (a high-resolution camera) are read from a copy
# of the image shrunk so that their boxes have about READ_AT_BOX_PX on their longer side. Crops are
# scaled to the network's size anyway and the features are ratios within the cell, so the reading
# hardly changes, while masks, fills and skeletons cost in proportion to the pixels. The median box
# side of the Taichung validation cells is 56-118 px (detector boxes 43-106): none is shrunk.
LARGE_BOX_PX = 160.0
READ_AT_BOX_PX = 90.0


def reading_scale(boxes: np.ndarray) -> float:
    """The factor (<= 1) by which a cell with these (N, 4) x0, y0, x1, y1 boxes is read."""
    if len(boxes) == 0:
        return 1.0
    median_side = float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    return READ_AT_BOX_PX / median_side if median_side > LARGE_BOX_PX else 1.0


@dataclass(frozen=True)
class NetConfig:
    """Shape of the network; stored in checkpoints as a plain dict."""

    out_size: tuple[int, int] = DEFAULT_OUT_SIZE
    widths: tuple[int, ...] = (16, 32, 64, 128)
    length_bins: int = 4
    hidden: int = 128
    dropout: float = 0.2
    num_features: int = NUM_FEATURES
    num_classes: int = NUM_CLASSES
    # One more output, "not a chromosome" (debris, nuclei, a detector's duplicate or half box),
    # learned from a detector's false detections (classifier_data.build_detector_crops).
    reject: bool = False

    @property
    def outputs(self) -> int:
        return self.num_classes + int(self.reject)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_size"] = list(self.out_size)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetConfig":
        d = dict(d)
        d.setdefault("reject", False)  # checkpoints written before the reject output existed
        d["out_size"] = tuple(int(v) for v in d["out_size"])
        d["widths"] = tuple(int(v) for v in d["widths"])
        return cls(**d)


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class CropNet(nn.Module):
    """Conv blocks (one conv in the first, two in the others, each followed by 2x2 max-pool)."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(config.widths):
            layers += _conv_bn(c_in, c_out)
            if i > 0:
                layers += _conv_bn(c_out, c_out)
            layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((config.length_bins, 1))
        self.feature_norm = nn.BatchNorm1d(config.num_features)
        self.head = nn.Sequential(
            nn.Linear(c_in * config.length_bins + config.num_features, config.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.outputs),
        )

    def forward(self, crops: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """crops (N, 1, H, W), features (N, F) -> logits (N, outputs): the classes, then "reject"."""
        x = self.pool(self.body(crops)).flatten(1)
        return self.head(torch.cat([x, self.feature_norm(features)], dim=1))


def end_logits(net: CropNet, crops: torch.Tensor, features: torch.Tensor, *, both_ends: bool = True,
               mirrored: bool = False) -> torch.Tensor:
    """Logits (E, N, classes): E reads of each crop, as given and, with ``both_ends``, upside down;
    with ``mirrored`` also the mirror image of each (a chromosome's mirror image is the same
    chromosome; training shows both). All reads go through the network in one batch."""
    views = [crops]
    if both_ends:
        views.append(torch.flip(crops, dims=(2, 3)))
    if mirrored:
        views += [torch.flip(v, dims=(3,)) for v in views]
    n = len(crops)
    logits = net(torch.cat(views), features.repeat(len(views), 1))
    return logits.reshape(len(views), n, -1)


def calibrated_log_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log of the mean over reads (first axis) of the tempered softmax."""
    probs = torch.softmax(logits / temperature, dim=-1).mean(dim=0)
    return torch.log(probs.clamp_min(1e-12))


def split_reject(log_probs: np.ndarray, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """(N x num_classes log-probabilities given that it is a chromosome, N reject probabilities)
    of log-probabilities over the outputs; without a reject column the probabilities are 0."""
    lp = np.asarray(log_probs, dtype=np.float64)
    if lp.shape[1] == num_classes:
        return lp, np.zeros(len(lp))
    reject = np.exp(lp[:, num_classes])
    classes = lp[:, :num_classes]
    norm = np.logaddexp.reduce(classes, axis=1, keepdims=True) if len(lp) else classes[:, :1]
    return classes - norm, reject


# Crops per network batch: up to 4 reads each (both ends, mirrored), so a batch holds at most 512
# reads and the activations' memory stays the same however many detections a field has.
READ_CHUNK = 128


class ChromosomeClassifier:
    """A trained CropNet ready for inference (eval mode, calibrated by a temperature)."""

    def __init__(self, net: CropNet, *, temperature: float = 1.0, metrics: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.config = net.config
        self.temperature = float(temperature)
        self.metrics = dict(metrics or {})
        self.class_names: tuple[str, ...] = CLASS_NAMES

    def log_probs(self, crops: np.ndarray, features: np.ndarray, *, both_ends: bool = True) -> np.ndarray:
        """Log-probabilities (N, 24) in CLASS_NAMES order for crops (N, H, W) in [0, 1], given
        that each crop is a chromosome (see :meth:`read` for the reject probability).

        With ``both_ends`` the crop is also read upside down and the two predictions are
        averaged, since which end is up is only a guess.
        """
        return self.read(crops, features, both_ends=both_ends)[0]

    @torch.no_grad()
    def read(self, crops: np.ndarray, features: np.ndarray, *, both_ends: bool = True, mirrored: bool = False
             ) -> tuple[np.ndarray, np.ndarray]:
        """(log-probabilities N x 24 given a chromosome, probability N that it is none)."""
        crops = np.asarray(crops, dtype=np.float32)
        feats = np.asarray(features, dtype=np.float32)
        if crops.ndim != 3 or tuple(crops.shape[1:]) != tuple(self.config.out_size):
            raise ValueError(f"crops must be N x {self.config.out_size[0]} x {self.config.out_size[1]}, "
                             f"got {crops.shape}")
        if feats.shape != (len(crops), self.config.num_features):
            raise ValueError(f"features must be N x {self.config.num_features}, got {feats.shape}")
        if len(crops) == 0:
            return np.zeros((0, self.config.num_classes), dtype=np.float32), np.zeros(0)
        lp = np.concatenate([self._read_chunk(crops[i:i + READ_CHUNK], feats[i:i + READ_CHUNK], both_ends, mirrored)
                             for i in range(0, len(crops), READ_CHUNK)])
        classes, reject = split_reject(lp, self.config.num_classes)
        return classes.astype(np.float32), reject

    def _read_chunk(self, crops: np.ndarray, feats: np.ndarray, both_ends: bool, mirrored: bool) -> np.ndarray:
        x = torch.from_numpy(crops).unsqueeze(1).to(self.device)
        f = torch.from_numpy(feats).to(self.device)
        logits = end_logits(self.net, x, f, both_ends=both_ends, mirrored=mirrored)
        return calibrated_log_probs(logits, self.temperature).cpu().numpy()

    def classify_cell(self, image: np.ndarray, polygons: Sequence[np.ndarray]) -> np.ndarray:
        """Log-probabilities (N, 24) for every outline of one image.

        Outlines too small to crop get uniform probabilities, so callers can still assign them.
        """
        return self.read_cell(image, polygons)[0]

    def read_cell(self, image: np.ndarray, polygons: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(log-probabilities N x 24, reject probabilities N) for every outline of one image;
        outlines too small to crop get uniform probabilities and reject probability 0."""
        cc = cell_crops(image, polygons, out_size=self.config.out_size)
        out = np.full((len(polygons), self.config.num_classes), -np.log(self.config.num_classes), dtype=np.float32)
        reject = np.zeros(len(polygons))
        if cc.valid.any():
            out[cc.valid], reject[cc.valid] = self.read(cc.crops[cc.valid], cc.features[cc.valid])
        return out, reject

    def read_boxes(self, image: np.ndarray, boxes: Sequence[Sequence[float]],
                   reading: BoxReading = BoxReading()) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`read_cell` for tight boxes (a detector's): crops made as in training
        (crops.box_crops), so the classifier reads detections exactly as it learned them; with
        several ``reading.scales`` each box is read at each and the probabilities averaged.
        Very large chromosomes are read from a shrunk copy (see :func:`reading_scale`)."""
        n, num_classes = len(boxes), self.config.num_classes
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        shrink = reading_scale(boxes)
        if shrink < 1.0:
            image = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
            boxes = boxes * shrink
        total = np.zeros((n, num_classes + 1))  # summed probabilities: classes, then "no chromosome"
        reads = np.zeros(n)
        for scale in reading.scales:
            cc = box_crops(image, list(scaled_boxes(boxes, scale)), out_size=self.config.out_size)
            if not cc.valid.any():
                continue
            log_probs, reject = self.read(cc.crops[cc.valid], cc.features[cc.valid], mirrored=reading.mirrored)
            total[cc.valid, :num_classes] += np.exp(log_probs) * (1.0 - reject)[:, None]
            total[cc.valid, num_classes] += reject
            reads[cc.valid] += 1
        out = np.full((n, num_classes), -np.log(num_classes), dtype=np.float32)
        reject = np.zeros(n)
        read = reads > 0
        if read.any():
            mean = np.clip(total[read] / reads[read, None], 1e-12, None)
            classes = np.log(mean[:, :num_classes])
            out[read] = classes - np.logaddexp.reduce(classes, axis=1, keepdims=True)
            reject[read] = np.clip(mean[:, num_classes], 0.0, 1.0)
        return out, reject

    @property
    def can_reject(self) -> bool:
        return self.config.reject

    def save(self, path: str | Path) -> None:
        save_checkpoint(path, self.net, temperature=self.temperature, metrics=self.metrics)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> "ChromosomeClassifier":
        net, temperature, metrics = load_checkpoint(path)
        return cls(net, temperature=temperature, metrics=metrics, device=device)


def checkpoint_dict(net: CropNet, *, temperature: float = 1.0, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plain-dict checkpoint of a network (float tensors as fp16 to halve the file)."""
    state = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
             for k, v in net.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": net.config.to_dict(),
        "class_names": list(CLASS_NAMES),
        "feature_names": list(FEATURE_NAMES),
        "state_dict": state,
        "temperature": float(temperature),
        "metrics": _plain(dict(metrics or {})),
    }


def _plain(value: Any) -> Any:
    """Metrics as plain Python values (numpy scalars are not allowed by weights_only loading)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_checkpoint(path: str | Path, net: CropNet, *, temperature: float = 1.0,
                    metrics: dict[str, Any] | None = None) -> None:
    """Write a checkpoint atomically (a crash leaves any previous file intact)."""
    with atomic_open(path, "wb") as handle:
        torch.save(checkpoint_dict(net, temperature=temperature, metrics=metrics), handle)


def load_checkpoint(path: str | Path) -> tuple[CropNet, float, dict[str, Any]]:
    """(network in float32, temperature, metrics) from a checkpoint file."""
    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(path, "no such classifier checkpoint") from None
    except Exception as exc:  # torch raises a variety of unpickling/zip errors
        raise CheckpointError(path, f"not a readable checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, "not a chromosome classifier checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(path, f"checkpoint version {ckpt.get('version')!r} is not supported "
                              f"(expected {CHECKPOINT_VERSION})")
    if list(ckpt.get("class_names", [])) != list(CLASS_NAMES) or list(ckpt.get("feature_names", [])) != list(FEATURE_NAMES):
        raise CheckpointError(path, "checkpoint classes or features differ from this version's")
    try:
        net = CropNet(NetConfig.from_dict(ckpt["config"]))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()})
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(path, f"checkpoint does not match the network ({exc})") from None
    return net, float(ckpt.get("temperature", 1.0)), dict(ckpt.get("metrics", {}))
