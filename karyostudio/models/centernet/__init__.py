"""A learned, class-agnostic chromosome detector in the style of CenterNet / TTFNet.

spec.py (what defines a model), net.py (small ResNet + FPN to stride 4, heatmap and box heads),
decode.py (peaks -> boxes), targets.py (training targets from boxes), weights.py (files),
outlines.py (boxes -> one outline per chromosome), detector.py (image -> boxes at the right scale).
"""
