"""RoI heads that learn masks only from images that have masks (mixed box / mask supervision).

torchvision's RoIHeads demands masks for every training image. Here a training target without a
"masks" entry is a box-only image: it trains the box classifier and regressor as usual but takes
no part in the mask branch. When no image of a batch has masks the mask branch is not run at
all, so no gradient can reach the mask head (its parameters' .grad stays None). This is the
alternating regime's box batch (DaTaSeg, Gu et al. 2023: compute only the losses whose
supervision exists). Inference is torchvision's unchanged.
"""

from __future__ import annotations

import torch
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss, maskrcnn_loss


class PartialMaskRoIHeads(RoIHeads):
    def check_targets(self, targets: list[dict[str, torch.Tensor]] | None) -> None:
        if targets is None:
            raise ValueError("training needs targets")
        for t in targets:
            if "boxes" not in t or "labels" not in t:
                raise ValueError("every target needs 'boxes' and 'labels'")

    def forward(self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
                image_shapes: list[tuple[int, int]], targets: list[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
        losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        with_masks = [i for i, t in enumerate(targets) if "masks" in t]
        if with_masks and self.has_mask():
            # As torchvision: the mask branch learns from positive proposals only.
            positives = [torch.where(labels[i] > 0)[0] for i in with_masks]
            mask_proposals = [proposals[i][pos] for i, pos in zip(with_masks, positives)]
            matched = [matched_idxs[i][pos] for i, pos in zip(with_masks, positives)]
            mask_features = self.mask_roi_pool(features, mask_proposals, [image_shapes[i] for i in with_masks])
            mask_logits = self.mask_predictor(self.mask_head(mask_features))
            losses["loss_mask"] = maskrcnn_loss(mask_logits, mask_proposals, [targets[i]["masks"] for i in with_masks],
                                                [targets[i]["labels"] for i in with_masks], matched)
        return [], losses
