"""Mixed supervision in the RoI heads: box-only images never reach the mask head; empty targets cost nothing."""

from __future__ import annotations

import torch

from karyostudio.models.maskrcnn.build import build_maskrcnn, mask_head_parameters
from tests.models.test_maskrcnn_build import tiny_spec

torch.set_num_threads(1)


def image_and_boxes(seed: int, with_masks: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A 96 px image with three dark bars and their boxes (and masks)."""
    g = torch.Generator().manual_seed(seed)
    image = torch.full((1, 96, 96), 0.8) + 0.05 * torch.rand(1, 96, 96, generator=g)
    boxes = torch.tensor([[10.0, 10.0, 20.0, 50.0], [40.0, 30.0, 80.0, 42.0], [60.0, 60.0, 70.0, 90.0]])
    masks = torch.zeros(3, 96, 96, dtype=torch.uint8)
    for k, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
        image[0, y0:y1, x0:x1] = 0.2
        masks[k, y0:y1, x0:x1] = 1
    target = {"boxes": boxes, "labels": torch.tensor([1, 5, 24])}
    if with_masks:
        target["masks"] = masks
    return image, target


def losses_and_model(targets_with_masks: list[bool]):
    torch.manual_seed(0)
    model = build_maskrcnn(tiny_spec())
    model.train()
    pairs = [image_and_boxes(k, m) for k, m in enumerate(targets_with_masks)]
    losses = model([p[0] for p in pairs], [p[1] for p in pairs])
    sum(losses.values()).backward()
    return losses, model


def test_box_only_batch_trains_boxes_and_leaves_the_mask_head_without_gradient():
    losses, model = losses_and_model([False, False])
    assert "loss_mask" not in losses
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    assert all(p.grad is None for p in mask_head_parameters(model))
    box_grads = [p.grad for p in model.roi_heads.box_predictor.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in box_grads)
    assert model.rpn.head.cls_logits.weight.grad.abs().sum() > 0


def test_mask_batch_trains_the_mask_head():
    losses, model = losses_and_model([True, True])
    assert losses["loss_mask"].item() > 0
    assert all(p.grad is not None for p in mask_head_parameters(model))
    assert sum(float(p.grad.abs().sum()) for p in mask_head_parameters(model)) > 0


def test_mixed_batch_learns_masks_from_the_images_that_have_them():
    losses, model = losses_and_model([True, False])
    assert losses["loss_mask"].item() > 0
    assert sum(float(p.grad.abs().sum()) for p in mask_head_parameters(model)) > 0


def test_empty_targets_give_zero_box_regression_and_mask_losses():
    torch.manual_seed(0)
    model = build_maskrcnn(tiny_spec())
    model.train()
    empty = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64),
             "masks": torch.zeros((0, 96, 96), dtype=torch.uint8)}
    losses = model([torch.rand(1, 96, 96)], [empty])
    assert losses["loss_box_reg"].item() == 0.0
    assert losses["loss_rpn_box_reg"].item() == 0.0
    assert losses["loss_mask"].item() == 0.0
    assert losses["loss_classifier"].item() > 0  # everything is background, and it still has to say so
    sum(losses.values()).backward()  # and the zero losses still backpropagate cleanly
