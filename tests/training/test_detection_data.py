"""Detection data: synthetic, labelme and VOC sources, patient split, datasets, reproducible batch streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon
from karyostudio.io.images import write_image
from karyostudio.io.voc import write_voc
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for, write_sample
from karyostudio.training.classifier_data import patient_of
from karyostudio.training.config import AugmentConfig, ConfigError, config_from_dict
from karyostudio.training.detection_data import (
    BatchStream,
    DetectionDataset,
    SynthSource,
    ValidationSet,
    batch_loader,
    build_sources,
)

torch.set_num_threads(1)


def config_with(mask_sources, box_sources=(), root=""):
    return config_from_dict({"regime": "alternating" if box_sources else "baseline",
                             "data": {"root": str(root), "mask_sources": list(mask_sources),
                                      "box_sources": list(box_sources)}})


def voc_tree(root, ids, size=(120, 90)):
    """A Taichung-like VOC tree: JEPG/<id>.jpg and annotations/<id>.xml with two boxes each."""
    width, height = size
    for k, image_id in enumerate(ids):
        image = np.full((height, width), 210, dtype=np.uint8)
        image[10:40, 10 + k:20 + k] = 40
        path = root / "JEPG" / f"{image_id}.jpg"
        write_image(path, image)
        instances = [Instance(1, box_to_polygon((10 + k, 10, 20 + k, 40)), label="1"),
                     Instance(2, box_to_polygon((50, 50, 70, 60)), label="X")]
        write_voc(root / "annotations" / f"{image_id}.xml",
                  ImageAnnotations(key=image_id, instances=instances, image_path=path, image_size=size))
    return root


def test_synth_source_gives_masked_samples_that_do_not_depend_on_the_run():
    source = SynthSource(seed=4, indices=range(3), size=128)
    a, b = source.load(1), SynthSource(seed=4, indices=[1], size=128).load(0)
    assert a.key == b.key == "synth-4-000001"
    assert np.array_equal(a.image, b.image) and a.has_masks
    assert len(a.labels) == 46 and set(a.labels) <= set(range(1, 25))


def test_dataset_gives_model_sized_tensors_and_reproducible_augmentation():
    dataset = DetectionDataset(SynthSource(0, range(2), 160), input_size=96, augment_config=AugmentConfig())
    image, target = dataset[0]
    assert image.shape == (1, 96, 96) and image.dtype == torch.float32
    assert target["masks"].shape[1:] == (96, 96) and len(target["boxes"]) == len(target["labels"]) > 40
    key = (1, (0, 0, 5, 1))
    again_image, again_target = dataset[key]
    assert torch.equal(dataset[key][0], again_image) and torch.equal(dataset[key][1]["boxes"], again_target["boxes"])
    assert not torch.equal(dataset[(1, (0, 0, 6, 1))][0], again_image)


def test_labelme_folder_written_by_synth_trains_masks_and_splits_at_random(tmp_path):
    for i in range(5):
        write_sample(generate_metaphase(rng_for(2, i), SynthConfig(size=128)), tmp_path / "synth", f"s{i}")
    config = config_with([{"kind": "labelme", "path": "synth", "val_fraction": 0.4, "seed": 1}], root=tmp_path)
    train, val = build_sources(config, "masks")
    assert len(train) == 3 and len(val) == 2
    sample = train.load(0)
    assert sample.has_masks and sample.image.shape == (128, 128) and len(sample.polygons) == 46
    generated = generate_metaphase(rng_for(2, int(sample.key[1:])), SynthConfig(size=128))
    assert np.allclose(sample.polygons[0], generated.instances[0].polygon)


def test_voc_box_data_is_split_by_patient_and_stays_box_only(tmp_path):
    ids = ["1000011", "1000012", "1000021", "1000022", "1000031", "1000041", "1000042", "1000051"]
    voc_tree(tmp_path / "taichung", ids)
    config = config_with([{"kind": "synth", "count": 1, "val_count": 0, "size": 128}],
                         [{"kind": "voc", "path": "taichung", "val_fraction": 0.4, "seed": 0}], root=tmp_path)
    train, val = build_sources(config, "boxes")
    train_patients = {patient_of(a.key) for a in train.sources[0].images}
    val_patients = {patient_of(a.key) for a in val.sources[0].images}
    assert train_patients and val_patients and not train_patients & val_patients
    assert len(train) + len(val) == len(ids)
    sample = train.load(0)
    assert not sample.has_masks and sample.labels == (1, 23)
    dataset = DetectionDataset(train, input_size=60, augment_config=AugmentConfig(), boxes_only=True)
    image, target = dataset[(0, (0, 1, 0, 0))]
    assert "masks" not in target and sorted(image.shape[1:]) == [45, 60]  # may be turned a quarter
    validation = ValidationSet.of(DetectionDataset(val, input_size=60, boxes_only=True), None)
    assert len(validation) == len(val) and set(validation.truth) == {a.key for a in val.sources[0].images}
    assert all(i.attributes.get(BOX_ONLY) for ann in validation.truth.values() for i in ann.instances)
    key, tensor = next(validation.tensors("cpu"))
    assert key in validation.truth and tensor.shape == (1, 45, 60) and float(tensor.max()) <= 1.0


def test_missing_data_is_a_config_error(tmp_path):
    config = config_with([{"kind": "labelme", "path": "nowhere"}], root=tmp_path)
    with pytest.raises(ConfigError, match="nowhere"):
        build_sources(config, "masks")
    voc_tree(tmp_path / "voc", ["1000011", "1000021"])
    (tmp_path / "voc" / "JEPG" / "1000021.jpg").unlink()
    config = config_with([{"kind": "synth", "count": 1}], [{"kind": "voc", "path": "voc", "val_fraction": 0}],
                         root=tmp_path)
    with pytest.raises(ConfigError, match="have no image file, e.g. '1000021'"):
        build_sources(config, "boxes")


@pytest.mark.shared_data
@pytest.mark.slow
def test_taichung_boxes_load_as_box_samples(taichung_dir):
    config = config_with([{"kind": "synth", "count": 1, "val_count": 0, "size": 128}],
                         [{"kind": "voc", "path": str(taichung_dir), "max_images": 6, "val_fraction": 0.3}])
    train, val = build_sources(config, "boxes")
    assert len(train) + len(val) == 6 and len(val) >= 1
    image, target = DetectionDataset(train, input_size=640, boxes_only=True)[0]
    assert max(image.shape[1:]) == 640 and 30 <= len(target["boxes"]) <= 60 and "masks" not in target


def test_batch_streams_are_reproducible_sharded_and_cover_every_item():
    stream = BatchStream(10, 2, seed=3, stream_id=0)
    assert stream.batch(7) == BatchStream(10, 2, seed=3, stream_id=0, start=7).batch(7)
    first_pass = [i for b in range(stream.batches_per_pass) for i, _ in stream.batch(b)]
    assert sorted(first_pass) == list(range(10))
    assert first_pass != [i for b in range(5, 10) for i, _ in stream.batch(b)]  # a new order every pass
    ranks = [BatchStream(10, 2, seed=3, stream_id=0, rank=r, world_size=2) for r in range(2)]
    together = [i for r in ranks for i, _ in r.batch(1)]
    assert len(set(together)) == 4 and sorted(together) == sorted(i for i, _ in BatchStream(10, 4, seed=3, stream_id=0).batch(1))
    assert [i for i, _ in BatchStream(3, 4, seed=0, stream_id=1).batch(0)].__len__() == 4  # tiny sets repeat items
    with pytest.raises(ConfigError):
        BatchStream(0, 2, seed=0, stream_id=0)


def test_batch_loader_yields_the_stream_batches_in_order():
    dataset = DetectionDataset(SynthSource(0, range(4), 128), input_size=64)
    stream = BatchStream(4, 2, seed=0, stream_id=0, start=3)
    images, targets = next(batch_loader(dataset, stream, num_workers=0, pin_memory=False))
    expected = [dataset[key] for key in stream.batch(3)]
    assert len(images) == 2 and all(torch.equal(a, b[0]) for a, b in zip(images, expected))
    assert all(torch.equal(t["boxes"], e[1]["boxes"]) for t, e in zip(targets, expected))


def test_datasets_know_whether_every_step_runs_the_mask_head(tmp_path):
    synth = SynthSource(0, range(2), 128)
    assert DetectionDataset(synth, input_size=64).always_masks
    assert not DetectionDataset(synth, input_size=64, boxes_only=True).always_masks
    assert DetectionDataset(synth, input_size=64, boxes_only=True, coarse_shape="box").always_masks
    voc_tree(tmp_path / "voc", ["1000011", "1000021"])  # box-only files listed as a mask source
    config = config_with([{"kind": "labelme", "path": str(tmp_path / "voc"), "val_fraction": 0}])
    train, _ = build_sources(config, "masks")
    assert len(train) == 2 and not DetectionDataset(train, input_size=64).always_masks
