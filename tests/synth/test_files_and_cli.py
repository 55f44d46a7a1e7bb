"""Writing samples (PNG + labelme JSON + NPZ), generate_dataset and `karyostudio synth`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from karyostudio.cli import main
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.io.images import read_image
from karyostudio.io.labelme import read_labelme
from karyostudio.synth import SynthConfig, generate_dataset, generate_metaphase, read_instance_masks, rng_for, write_sample


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    sample = generate_metaphase(rng_for(2, 0), SynthConfig(size=256, clusters_mean=6))
    return sample, write_sample(sample, out, "cell")


def test_write_sample_round_trips(written):
    sample, paths = written
    assert {p.name for p in paths.values()} == {"cell.png", "cell.json", "cell.npz"}
    assert np.array_equal(read_image(paths["image"]), sample.image)

    ann = read_labelme(paths["labelme"])
    assert ann.image_size == (256, 256) and ann.extra["karyotype"] == sample.karyotype
    assert [i.label for i in ann.instances] == [i.label for i in sample.instances]
    assert ann.instances == sample.instances  # polygons, ids, source and attributes survive exactly
    assert len(ann.extra["clusters"]) == len(sample.clusters)

    masks = read_instance_masks(paths["arrays"])
    assert np.array_equal(masks, sample.masks())
    for inst, mask in zip(ann.instances, masks):
        assert np.array_equal(polygon_to_mask(inst.polygon, (256, 256)), mask)

    with np.load(paths["arrays"]) as data:  # no pickled objects needed
        assert str(data["karyotype"]) == sample.karyotype
        assert np.array_equal(data["overlap_mask"], sample.overlap_mask)
        assert list(data["labels"]) == [i.label for i in sample.instances]
        top = data["label_map"]
        assert top.dtype == np.uint16 and np.array_equal(top > 0, masks.any(axis=0))
        offsets = data["skeleton_offsets"]
        first = data["skeleton_points"][offsets[0]:offsets[1]]
        assert np.allclose(first, sample.instances[0].attributes["skeleton"], atol=1e-4)
        assert np.allclose(data["rotated_boxes"][0], sample.instances[0].attributes["rotated_box"], atol=1e-3)
        members = data["cluster_members"]
        starts = data["cluster_offsets"]
        assert [tuple(members[starts[c]:starts[c + 1]]) for c in range(len(starts) - 1)] == \
            [c.members for c in sample.clusters]


def test_dataset_image_does_not_depend_on_run_size_or_workers(tmp_path):
    config = SynthConfig(size=128)
    generate_dataset(tmp_path / "serial", 2, seed=4, config=config)
    generate_dataset(tmp_path / "single", 1, seed=4, config=config, start=1)
    generate_dataset(tmp_path / "pool", 2, seed=4, config=config, workers=2)
    for suffix in (".png", ".npz", ".json"):
        name = f"synth_000001{suffix}"
        reference = (tmp_path / "serial" / name).read_bytes()
        assert (tmp_path / "single" / name).read_bytes() == reference
        assert (tmp_path / "pool" / name).read_bytes() == reference


def test_cli_writes_expected_files_byte_identically(tmp_path, capsys):
    args = ["synth", "--n", "2", "--seed", "5", "--size", "256", "--aneuploidy-rate", "0.5"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["karyotypes.csv", "synth_000000.json", "synth_000000.npz", "synth_000000.png",
                     "synth_000001.json", "synth_000001.npz", "synth_000001.png"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    rows = list(csv.DictReader((tmp_path / "a" / "karyotypes.csv").open()))
    for row in rows:
        stem = row["image"].removesuffix(".png")
        data = json.loads((tmp_path / "a" / f"{stem}.json").read_text())
        assert data["karyotype"] == row["karyotype"]
        assert len(data["shapes"]) == int(row["chromosomes"]) == int(row["karyotype"].split(",")[0])
        assert data["imagePath"] == f"{stem}.png" and data["imageWidth"] == 256
        assert read_image(tmp_path / "a" / f"{stem}.png").shape == (256, 256)
    assert "wrote 2 images" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [["--n", "0"], ["--size", "64"], ["--aneuploidy-rate", "2"], ["--workers", "0"]])
def test_cli_rejects_bad_arguments_without_writing(tmp_path, capsys, bad):
    out = tmp_path / "out"
    assert main(["synth", "--seed", "1", "--out", str(out), *(["--n", "1"] if "--n" not in bad else []), *bad]) == 2
    assert "error" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_a_file_as_output(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["synth", "--n", "1", "--seed", "1", "--out", str(target)]) == 2
    assert "not a folder" in capsys.readouterr().err
