"""What is this piece? A small multinomial logistic model over :mod:`seg_piece_features`.

Four outcomes: one whole chromosome ("single"), several chromosomes ("cluster"), part of a
chromosome ("fragment", e.g. a wrong cut) and not a chromosome at all ("debris"). The separation
search uses the probabilities to choose cuts, the segmenter to drop debris and to flag
clusters, and P(single) is kept as the outline's segmentation score.

The weights are fitted by :mod:`karyostudio.models.classic.seg_fit` on annotated metaphases and
stored as plain numbers in :mod:`karyostudio.models.classic.seg_piece_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from karyostudio.models.classic.seg_piece_features import FEATURE_NAMES, NUM_FEATURES

OUTCOMES: tuple[str, ...] = ("single", "cluster", "fragment", "debris")
SINGLE, CLUSTER, FRAGMENT, DEBRIS = range(4)


@dataclass(frozen=True)
class PieceModel:
    """Standardise features, then softmax(x @ coef + intercept)."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    coef: np.ndarray  # (F, 4)
    intercept: np.ndarray  # (4,)

    def __post_init__(self) -> None:
        if self.coef.shape != (NUM_FEATURES, len(OUTCOMES)):
            raise ValueError(f"piece model expects {NUM_FEATURES} features x {len(OUTCOMES)} outcomes, "
                             f"got coefficients of shape {self.coef.shape}")

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Outcome probabilities, (N, 4) for (N, F) features or (4,) for one vector."""
        x = (np.atleast_2d(features) - self.mean) / self.scale
        logits = x @ self.coef + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p[0] if np.ndim(features) == 1 else p

    def to_dict(self) -> dict:
        return {"features": list(FEATURE_NAMES), "outcomes": list(OUTCOMES),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "PieceModel":
        if list(d["features"]) != list(FEATURE_NAMES) or list(d["outcomes"]) != list(OUTCOMES):
            raise ValueError("piece model weights were fitted for other features or outcomes")
        return cls(mean=np.asarray(d["mean"], float), scale=np.asarray(d["scale"], float),
                   coef=np.asarray(d["coef"], float), intercept=np.asarray(d["intercept"], float))


def fit_piece_model(features: np.ndarray, outcomes: np.ndarray, *, l2: float = 1e-2,
                    balanced: bool = False) -> PieceModel:
    """Maximum-likelihood softmax regression with an L2 penalty on standardised features.

    With ``balanced`` each outcome is weighted inversely to its frequency (rare debris counts
    as much as common singles, at the price of probabilities that no longer follow the data's
    own frequencies).
    """
    x = np.asarray(features, float)
    y = np.asarray(outcomes, int)
    k = len(OUTCOMES)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    onehot = np.eye(k)[y]
    counts = np.bincount(y, minlength=k).astype(float)
    weights = (len(y) / (k * np.maximum(counts, 1.0)))[y] if balanced else np.ones(len(y))
    n, f = z.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:f * k].reshape(f, k)
        b = theta[f * k:]
        logits = z @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        nll = -float((weights * (onehot * logp).sum(axis=1)).sum()) / n
        grad_logits = (np.exp(logp) - onehot) * weights[:, None] / n
        gw = z.T @ grad_logits + l2 * w
        gb = grad_logits.sum(axis=0)
        return nll + 0.5 * l2 * float((w ** 2).sum()), np.concatenate([gw.ravel(), gb])

    res = minimize(loss, np.zeros(f * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    theta = res.x
    return PieceModel(mean=mean, scale=scale, coef=theta[:f * k].reshape(f, k), intercept=theta[f * k:])
