"""The rotated-box operations the rotated detectors (models/deepchm, models/ermrcnn) share.

``geometry`` holds the differentiable, batched rotated-box operations (corners, exact skew-IoU,
skew-NMS, delta encoding, Gaussian/KLD) used by both detectors. Boxes are
``(cx, cy, w, h, theta_deg)`` in the convention of :mod:`karyostudio.geometry.rotated`.
``box_fit`` finds chromosomes inside boxes on the image (rotated ground truth from axis-aligned
boxes, outlines inside predicted rotated boxes), ``postprocess`` turns rotated-model output into
Instances and ``ground_truth`` gives box-only annotation sets rotated boxes for evaluation.
"""
