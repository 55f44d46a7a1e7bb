"""Detection data: image sources, the training/validation split, datasets and reproducible batch streams.

Sources give DetectionSamples (uint8 image, outlines, labels 1..24, has_masks):
  - SynthSource: synthetic metaphases generated on the fly (image i always the same for a seed);
  - AnnotationSource: annotated image files, from a labelme folder (masks; images whose
    instances are box-only train boxes only) or a Pascal VOC tree such as Taichung (boxes only).
Box sources (config.data.box_sources) are always box-only, whatever their files hold.

Batches come from BatchStreams: an endless sequence whose n-th batch is a pure function of
(seed, stream, n, rank), including each image's augmentation draw. The engine counts the
batches it consumed per stream, so a resumed run gets exactly the batches it would have had,
with any number of DataLoader workers. Under torchrun every rank reads its own slice of each
global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from karyostudio.core.annotated_image import BOX_ONLY, AnnotationSet, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES, class_index
from karyostudio.core.instance import Instance
from karyostudio.io.annotation_set import load_annotation_set
from karyostudio.io.errors import AnnotationReadError, ImageReadError
from karyostudio.io.images import read_image
from karyostudio.io.voc import read_voc_dir
from karyostudio.models.maskrcnn.image_prep import as_uint8
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from karyostudio.training.classifier_data import split_by_patient
from karyostudio.training.config import (
    BOXES,
    COARSE,
    MASKS,
    AugmentConfig,
    ConfigError,
    SourceConfig,
    TrainConfig,
    data_path,
)
from karyostudio.training.transforms import DetectionSample, as_boxes, augment, coarse_masks, resize, to_target

# A dataset key: an index (validation: no augmentation) or (index, augmentation seed words).
Key = int | tuple[int, tuple[int, ...]]
STREAM_IDS = {MASKS: 0, BOXES: 1, COARSE: 2}


class SampleSource(Protocol):
    def __len__(self) -> int: ...

    def load(self, index: int) -> DetectionSample: ...

    def all_have_masks(self) -> bool: ...


class SynthSource:
    def __init__(self, seed: int, indices: Sequence[int], size: int):
        self.seed, self.indices, self.config = int(seed), list(indices), SynthConfig(size=size)

    def __len__(self) -> int:
        return len(self.indices)

    def all_have_masks(self) -> bool:
        return True

    def load(self, index: int) -> DetectionSample:
        number = self.indices[index]
        cell = generate_metaphase(rng_for(self.seed, number), self.config)
        return DetectionSample(key=f"synth-{self.seed}-{number:06d}", image=cell.image,
                               polygons=tuple(i.polygon for i in cell.instances),
                               labels=tuple(class_index(i.label) + 1 for i in cell.instances), has_masks=True)


class AnnotationSource:
    """Images of an annotation set; instances without a class are left out (a detector needs one)."""

    def __init__(self, images: Sequence[ImageAnnotations]):
        # Checked up front: a missing image should stop a run before it starts, not hours into it.
        missing = [a.key for a in images if a.image_path is None or not a.image_path.is_file()]
        if missing:
            raise ConfigError(f"{len(missing)} annotated image(s) have no image file, e.g. {missing[0]!r}")
        self.images = list(images)

    def __len__(self) -> int:
        return len(self.images)

    def all_have_masks(self) -> bool:
        return all(a.has_masks for a in self.images)

    def load(self, index: int) -> DetectionSample:
        ann = self.images[index]
        image = as_uint8(read_image(ann.image_path))
        named = [i for i in ann.instances if i.label is not None]
        return DetectionSample(key=ann.key, image=image, polygons=tuple(i.polygon for i in named),
                               labels=tuple(class_index(i.label) + 1 for i in named), has_masks=ann.has_masks)


class ConcatSource:
    def __init__(self, sources: Sequence[SampleSource]):
        self.sources = [s for s in sources if len(s)]
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def all_have_masks(self) -> bool:
        return all(s.all_have_masks() for s in self.sources)

    def load(self, index: int) -> DetectionSample:
        k = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return self.sources[k].load(index - int(self.offsets[k]))


def build_sources(config: TrainConfig, role: str) -> tuple[ConcatSource, ConcatSource]:
    """(train, validation) sources of data.mask_sources ("masks") or data.box_sources ("boxes")."""
    sources = config.data.mask_sources if role == "masks" else config.data.box_sources
    pairs = [_split_source(config, s) for s in sources]
    return ConcatSource([p[0] for p in pairs]), ConcatSource([p[1] for p in pairs])


def _split_source(config: TrainConfig, source: SourceConfig) -> tuple[SampleSource, SampleSource]:
    if source.kind == "synth":
        count = source.count if source.max_images is None else min(source.count, source.max_images)
        return (SynthSource(source.seed, range(count), source.size),
                SynthSource(source.seed, range(source.count, source.count + source.val_count), source.size))
    path = data_path(config, source.path)
    try:
        annotations: AnnotationSet = read_voc_dir(path) if source.kind == "voc" else load_annotation_set(path)
    except AnnotationReadError as exc:
        raise ConfigError(f"cannot read the {source.kind} data at {path}: {exc}") from None
    keys = sorted(annotations)
    if source.max_images is not None and source.max_images < len(keys):
        pick = np.random.default_rng(source.seed).choice(len(keys), source.max_images, replace=False)
        keys = sorted(keys[k] for k in pick)
    split = source.split if source.split != "auto" else ("patient" if source.kind == "voc" else "random")
    if split == "patient":
        train_keys, val_keys = split_by_patient(keys, source.val_fraction, source.seed)
    else:
        order = np.random.default_rng(source.seed).permutation(len(keys))
        n_val = int(round(source.val_fraction * len(keys)))
        held = {keys[k] for k in order[:n_val]}
        train_keys, val_keys = [k for k in keys if k not in held], [k for k in keys if k in held]
    return (AnnotationSource([annotations[k] for k in train_keys]),
            AnnotationSource([annotations[k] for k in val_keys]))


class DetectionDataset(Dataset):
    """Samples of a source as (1 x H x W image tensor, target) pairs at the model's input size.

    ``boxes_only`` turns every sample into box supervision; ``coarse_shape`` then gives each box
    a coarse mask (two-stage, stage 1). Integer keys give the un-augmented sample (validation).
    """

    def __init__(self, source: SampleSource, *, input_size: int, augment_config: AugmentConfig | None = None,
                 boxes_only: bool = False, coarse_shape: str | None = None):
        self.source, self.input_size, self.augment_config = source, input_size, augment_config
        self.boxes_only, self.coarse_shape = boxes_only, coarse_shape

    def __len__(self) -> int:
        return len(self.source)

    @property
    def always_masks(self) -> bool:
        """Every training image has masks, so every step runs the mask head."""
        return self.coarse_shape is not None or (not self.boxes_only and self.source.all_have_masks())

    def sample(self, key: Key) -> DetectionSample:
        index, seed_words = (key, None) if isinstance(key, int) else key
        try:
            sample = self.source.load(index)
        except ImageReadError as exc:
            raise ConfigError(f"training image cannot be read: {exc}") from None
        if self.boxes_only:
            sample = as_boxes(sample)
        sample = resize(sample, self.input_size)
        if seed_words is not None and self.augment_config is not None:
            sample = augment(sample, self.augment_config, np.random.default_rng(list(seed_words)))
        if self.coarse_shape is not None:
            sample = coarse_masks(sample, self.coarse_shape)
        return sample

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return to_target(self.sample(key))


def ground_truth(sample: DetectionSample) -> ImageAnnotations:
    """The sample's annotations as Instances (box-only ones flagged so mask metrics skip them)."""
    height, width = sample.image.shape
    attributes = {} if sample.has_masks else {BOX_ONLY: True}
    instances = [Instance(id=k + 1, polygon=p, label=CLASS_NAMES[label - 1], attributes=attributes)
                 for k, (p, label) in enumerate(zip(sample.polygons, sample.labels))]
    return ImageAnnotations(key=sample.key, instances=instances, image_size=(width, height))


@dataclass(frozen=True)
class ValidationSet:
    """Validation images (resized, un-augmented, kept as uint8) with their ground truth."""

    images: list[tuple[str, np.ndarray]]
    truth: AnnotationSet

    @classmethod
    def of(cls, dataset: DetectionDataset, limit: int | None) -> "ValidationSet":
        images, truth = [], {}
        for index in range(len(dataset) if limit is None else min(limit, len(dataset))):
            sample = dataset.sample(index)
            key = sample.key if sample.key not in truth else f"{sample.key}#{index}"
            images.append((key, sample.image))
            truth[key] = ground_truth(sample)
        return cls(images, truth)

    def __len__(self) -> int:
        return len(self.images)

    def tensors(self, device: torch.device | str) -> Iterator[tuple[str, torch.Tensor]]:
        """(key, 1 x H x W float image in [0, 1] on ``device``), one at a time."""
        for key, image in self.images:
            yield key, torch.from_numpy(np.ascontiguousarray(image)).to(device).float().div_(255.0)[None]


class BatchStream:
    """Endless reproducible batches (lists of dataset keys) of a dataset with ``size`` items.

    Pass p visits the items in the permutation drawn from (seed, stream_id, p); global batch b of
    a pass holds the next batch_size x world_size items, and rank r takes its r-th slice. Each
    key carries the seed words of the item's augmentation, so the result does not depend on
    which process loads it.
    """

    def __init__(self, size: int, batch_size: int, *, seed: int, stream_id: int, rank: int = 0,
                 world_size: int = 1, start: int = 0):
        if size < 1:
            raise ConfigError("a training data set is empty")
        self.size, self.batch_size, self.seed, self.stream_id = size, batch_size, seed, stream_id
        self.rank, self.world_size, self.start = rank, world_size, start
        self.global_batch = batch_size * world_size
        self.batches_per_pass = max(1, size // self.global_batch)

    def batch(self, position: int) -> list[tuple[int, tuple[int, ...]]]:
        pass_number, b = divmod(position, self.batches_per_pass)
        order = np.random.default_rng([self.seed, self.stream_id, pass_number]).permutation(self.size)
        if self.size < self.global_batch:
            order = np.resize(order, self.global_batch)  # tiny sets: repeat items within a batch
        chunk = order[b * self.global_batch:(b + 1) * self.global_batch]
        mine = chunk[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        return [(int(i), (self.seed, self.stream_id, pass_number, int(i))) for i in mine]

    def __iter__(self) -> Iterator[list[tuple[int, tuple[int, ...]]]]:
        position = self.start
        while True:
            yield self.batch(position)
            position += 1


def stream_for_step(streams: Sequence[str], step: int, *, seed: int, box_ratio: float) -> str:
    """The stream global step ``step`` reads: box data with probability ``box_ratio`` when a stage
    alternates, drawn from (seed, step) so every process and a resumed run agree."""
    if len(streams) == 1:
        return streams[0]
    return BOXES if np.random.default_rng([seed, 7, step]).random() < box_ratio else MASKS


def collate(items: list[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    return [i for i, _ in items], [t for _, t in items]


def _worker_init(_: int) -> None:
    # Loader processes share the machine with the training process: one thread each.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def batch_loader(dataset: DetectionDataset, stream: BatchStream, *, num_workers: int, pin_memory: bool
                 ) -> Iterator[tuple[list[torch.Tensor], list[dict]]]:
    """An iterator over the stream's batches, loaded by ``num_workers`` processes (0: in this one)."""
    # Own generator: creating the iterator must not draw from torch's global RNG. Workers are
    # spawned, not forked: forking a process whose OpenCV thread pool runs can deadlock.
    loader = DataLoader(dataset, batch_sampler=stream, num_workers=num_workers, collate_fn=collate,
                        pin_memory=pin_memory, generator=torch.Generator(),
                        worker_init_fn=_worker_init if num_workers else None,
                        multiprocessing_context="spawn" if num_workers else None)
    return iter(loader)
