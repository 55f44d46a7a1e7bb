"""Enhanced Rotated Mask R-CNN (rotated RPN and heads, rotated masks, endpoint branch, predictor, weights)."""
