"""generate_metaphase: one synthetic G-banded metaphase image with its complete ground truth."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.karyotype import karyotype_string
from karyostudio.geometry.rotated import rotated_box_from_polygon
from karyostudio.synth.chromosome import ChromosomeSpec, make_chromosome_spec
from karyostudio.synth.clutter import add_debris, add_haze, add_nuclei
from karyostudio.synth.config import SynthConfig
from karyostudio.synth.ideogram import load_ideograms
from karyostudio.synth.imaging import expose
from karyostudio.synth.karyotype_plan import plan_karyotype
from karyostudio.synth.overlaps import CrossingCluster, MaskPatch, coverage_count, find_clusters
from karyostudio.synth.placement import Placed, place_chromosomes
from karyostudio.synth.style import CellStyle, base_scale, draw_cell_style

SOURCE = "synth"
# Metaphase lengths grow a little slower than DNA content: small chromosomes are relatively
# less condensed (ISCN relative lengths: chr21 ~22% of chr1 against 19% of its base pairs).
LENGTH_EXPONENT = 0.9
_SKELETON_STEP = 3.0  # px between skeleton points


@dataclass
class SynthMetaphase:
    """A synthetic metaphase: the image and, per chromosome, everything a model could learn from.

    instances[k] has id k + 1 and goes with mask_patches[k]. overlap_mask marks pixels covered
    by two or more chromosomes; clusters lists each group of touching/crossing chromosomes.

    Instance attributes (image pixels, x right, y down; rounded to 0.01 px):
      "rotated_box": [cx, cy, w, h, theta_deg], the minimum-area box of the polygon in the
          convention of karyostudio.geometry.rotated: h >= w is the long axis; theta in
          [0, 180) is the clockwise (on screen) rotation of the upright box, so theta = 0 puts
          the h side along the image's y axis; the w side runs along (cos theta, sin theta),
          the h side along (-sin theta, cos theta).
      "skeleton": centreline points every ~3 px from the p-arm end to the q-arm end.
      "endpoints": [[x, y] of the p-arm end, [x, y] of the q-arm end] (the outline's tips).
      "centromere": [x, y] on the centreline.
    """

    image: np.ndarray  # uint8, H x W
    instances: list[Instance]
    mask_patches: list[MaskPatch]
    overlap_mask: np.ndarray  # bool, H x W
    clusters: list[CrossingCluster]
    karyotype: str
    aneuploidy: str | None
    style: CellStyle

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def mask(self, index: int) -> np.ndarray:
        """Full-image bool mask of instances[index]."""
        return self.mask_patches[index].full(self.shape)

    def masks(self) -> np.ndarray:
        """All instance masks as an N x H x W bool array (memory: N x H x W bytes)."""
        out = np.zeros((len(self.mask_patches), *self.shape), dtype=bool)
        for k, patch in enumerate(self.mask_patches):
            where, part = patch.clipped(self.shape)
            out[k][where] = part
        return out

    def label_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """(top, second) uint16 maps: the largest and second-largest instance id covering each pixel.

        Where one chromosome lies, top holds its id and second is 0; where two or more overlap,
        second holds another of them (exact for pairs; triple overlaps keep the two largest ids).
        """
        top = np.zeros(self.shape, dtype=np.uint16)
        second = np.zeros(self.shape, dtype=np.uint16)
        for inst, patch in zip(self.instances, self.mask_patches):  # ascending ids
            where, part = patch.clipped(self.shape)
            t, s = top[where], second[where]
            s[part] = t[part]
            t[part] = inst.id
        return top, second


def rng_for(seed: int, index: int) -> np.random.Generator:
    """The random generator of image `index` of a run with this seed (independent of the run's size)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def _chromosome_specs(rng: np.random.Generator, labels: list[str], style: CellStyle) -> list[ChromosomeSpec]:
    ideograms = load_ideograms()
    bp1 = ideograms["1"].length_bp
    specs = []
    for label in labels:
        ideogram = ideograms[label]
        relative = (ideogram.length_bp / bp1) ** LENGTH_EXPONENT
        length = style.chr1_length * relative * float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1))
        width = style.width * (0.85 + 0.15 * np.sqrt(relative)) * rng.uniform(0.95, 1.05)
        specs.append(make_chromosome_spec(rng, label, ideogram, length=length, width=width, style=style))
    return specs


def _points_at(placed: Placed, s: np.ndarray) -> list[list[float]]:
    """Centreline points at arc lengths s, rounded to 0.01 px, as JSON-ready lists."""
    c = placed.rendering.centreline
    xy = np.stack([np.interp(s, placed.spec.s, c[:, 0]), np.interp(s, placed.spec.s, c[:, 1])], axis=1)
    return np.round(xy, 2).tolist()


def _instance(k: int, placed: Placed) -> Instance:
    spec = placed.spec
    polygon = placed.rendering.polygon
    steps = np.linspace(0.0, spec.length, max(3, int(np.ceil(spec.length / _SKELETON_STEP)) + 1))
    ends_and_centromere = _points_at(placed, np.array([0.0, spec.length, spec.centromere_s]))
    attributes = {
        "rotated_box": [round(float(v), 3) for v in rotated_box_from_polygon(polygon)],
        "skeleton": _points_at(placed, steps),
        "endpoints": ends_and_centromere[:2],
        "centromere": ends_and_centromere[2],
    }
    return Instance(id=k + 1, polygon=polygon, label=spec.label, source=SOURCE, attributes=attributes)


def generate_metaphase(rng: np.random.Generator | int, config: SynthConfig = SynthConfig()) -> SynthMetaphase:
    """Draw one synthetic metaphase. rng may be a Generator or an int seed."""
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    size = int(config.size)
    labels, aneuploidy = plan_karyotype(rng, aneuploidy_rate=config.aneuploidy_rate, aneuploidies=config.aneuploidies,
                                        sex=config.sex, extra_autosomes=config.extra_autosomes)
    style = draw_cell_style(rng, size=size, chr1_length=config.chr1_length, clusters_mean=config.clusters_mean,
                            clutter=config.clutter, jpeg_probability=config.jpeg_probability)
    if config.chromatid_gap > 0:
        style = replace(style, chromatid_gap=float(config.chromatid_gap))
    specs = _chromosome_specs(rng, labels, style)
    placed, spread = place_chromosomes(rng, specs, size=size, fill=style.fill, gap=style.gap,
                                       clusters_mean=style.clusters_mean)
    if config.debris_only:  # the spread (where nuclei and haze lie) as if a cell were there
        placed, labels = [], []
        style = replace(style, debris_count=int(rng.integers(300, 1200)),
                        nuclei_count=max(style.nuclei_count, int(rng.integers(1, 4))))

    od = np.zeros((size, size), dtype=np.float32)
    patches = []
    for p in placed:
        r = p.rendering
        patches.append(MaskPatch(r.x0, r.y0, r.mask, r.s_map, p.spec.length,
                                 end_zone=0.6 * float(p.spec.half_width.max())))
        where, _ = patches[-1].clipped(od.shape)
        od[where] += r.od[where[0].start - r.y0:where[0].stop - r.y0, where[1].start - r.x0:where[1].stop - r.x0]
    count = coverage_count(patches, od.shape)
    instances = [_instance(k, p) for k, p in enumerate(placed)]
    clusters = find_clusters(patches, [inst.id for inst in instances])

    if config.clutter:
        if rng.random() < 0.6:
            add_haze(rng, od, spread)
        add_nuclei(rng, od, count > 0, spread, style.nuclei_count, style.chr1_length)
        add_debris(rng, od, style.debris_count, base_scale(size))
    image = expose(rng, od, style)
    return SynthMetaphase(image=image, instances=instances, mask_patches=patches, overlap_mask=count >= 2,
                          clusters=clusters, karyotype=karyotype_string(labels) if labels else "", aneuploidy=aneuploidy, style=style)
