"""Mask R-CNN family: one-channel Mask R-CNN (ResNet-50/18 or MobileNetV3 FPN, optional attention
FPN) trained from scratch on chromosome boxes and masks.

    spec = MaskRCNNSpec(backbone="resnet18", input_size=640)
    model = build_maskrcnn(spec)                 # torchvision MaskRCNN, 25 classes, 1 channel
    raw = detect(model, [image_tensor])[0]       # boxes, labels, scores, RoI mask probabilities
    instances = raw_to_instances(raw, image.shape, source="my-model")
    predictor = from_manifest(read_manifest(path))   # registry factory of family "maskrcnn"
"""

from karyostudio.models.maskrcnn.build import build_maskrcnn, mask_head_parameters
from karyostudio.models.maskrcnn.inference import detect
from karyostudio.models.maskrcnn.postprocess import raw_to_instances
from karyostudio.models.maskrcnn.predictor import MaskRCNNPredictor, from_manifest
from karyostudio.models.maskrcnn.spec import BACKBONES, MaskRCNNSpec, SpecError
from karyostudio.models.maskrcnn.weights import FAMILY, export_model, load_model, read_weights, save_weights

__all__ = ["BACKBONES", "FAMILY", "MaskRCNNPredictor", "MaskRCNNSpec", "SpecError", "build_maskrcnn", "detect",
           "export_model", "from_manifest", "load_model", "mask_head_parameters", "raw_to_instances",
           "read_weights", "save_weights"]
