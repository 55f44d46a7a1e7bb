"""DeepCHM: the rotated-anchor chromosome detector (network, anchors, sampling, loss, predictor, weights)."""
