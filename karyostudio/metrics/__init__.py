"""Evaluation metrics (numpy only; no torch, no Qt).

Entry point: :func:`karyostudio.metrics.evaluate.evaluate_annotations` (GT vs predictions as
AnnotationSets -> JSON-ready dict) and :func:`karyostudio.metrics.report.format_report`.
Building blocks: matching (pycocotools greedy / IoU-ordered pairs), ap (COCO AP@IoU),
segmentation (AJI, PQ, mPQ), detection (DeepCHM P/R/F1/mFPs/mOD on rotated boxes), overlap
(ChromSeg IoU / OverlapAcc / SPAcc), tables (per-class counts, confusion, counts, karyotypes),
masks (cropped rasterisation and pairwise intersections).
"""
