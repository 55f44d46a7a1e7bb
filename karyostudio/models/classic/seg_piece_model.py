"""What is this piece? A tiny neural network (numpy only) over :mod:`seg_piece_features`.

Four outcomes: one whole chromosome ("single"), several chromosomes ("cluster"), part of a
chromosome ("fragment", e.g. after a wrong cut) and not a chromosome at all ("debris"). The
separation search uses the probabilities to choose cuts, the segmenter to drop debris and to
flag clusters, and P(single) is kept as the outline's segmentation score.

The network is standardisation -> one hidden layer of ReLU units -> softmax: a few hundred
numbers, evaluated with two matrix products. It beats a linear (logistic) model clearly on
held-out pieces because the outcomes depend on feature combinations (a long piece is fine when
thin and unbranched, a cluster when thick). Weights are fitted by
:mod:`karyostudio.models.classic.seg_fit` and stored as plain numbers in
:mod:`karyostudio.models.classic.seg_piece_weights`.
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
    """softmax(relu(((x - mean) / scale) @ w1 + b1) @ w2 + b2)."""

    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    w1: np.ndarray  # (F, H)
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (H, 4)
    b2: np.ndarray  # (4,)

    def __post_init__(self) -> None:
        if self.w1.shape[0] != NUM_FEATURES or self.w2.shape[1] != len(OUTCOMES):
            raise ValueError(f"piece model expects {NUM_FEATURES} features and {len(OUTCOMES)} outcomes, "
                             f"got layers of shapes {self.w1.shape} and {self.w2.shape}")

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Outcome probabilities, (N, 4) for (N, F) features or (4,) for one vector."""
        x = (np.atleast_2d(features) - self.mean) / self.scale
        logits = np.maximum(x @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p[0] if np.ndim(features) == 1 else p

    def to_dict(self) -> dict:
        return {"features": list(FEATURE_NAMES), "outcomes": list(OUTCOMES),
                **{k: getattr(self, k).tolist() for k in ("mean", "scale", "w1", "b1", "w2", "b2")}}

    @classmethod
    def from_dict(cls, d: dict) -> "PieceModel":
        if list(d["features"]) != list(FEATURE_NAMES) or list(d["outcomes"]) != list(OUTCOMES):
            raise ValueError("piece model weights were fitted for other features or outcomes")
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "w1", "b1", "w2", "b2")})


def fit_piece_model(features: np.ndarray, outcomes: np.ndarray, *, hidden: int = 32, l2: float = 1e-3,
                    max_iter: int = 1500, seed: int = 0) -> PieceModel:
    """Maximum-likelihood fit (L-BFGS, L2 penalty on the weights) from a seeded start."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(outcomes, dtype=int)
    n, f = x.shape
    k = len(OUTCOMES)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    onehot = np.eye(k)[y]
    sizes = [f * hidden, hidden, hidden * k, k]
    cuts = np.cumsum(sizes)[:-1]

    def unpack(theta: np.ndarray) -> list[np.ndarray]:
        w1, b1, w2, b2 = np.split(theta, cuts)
        return [w1.reshape(f, hidden), b1, w2.reshape(hidden, k), b2]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w1, b1, w2, b2 = unpack(theta)
        pre = z @ w1 + b1
        h = np.maximum(pre, 0.0)
        logits = h @ w2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        nll = -float((onehot * logp).sum()) / n + 0.5 * l2 * float((w1 ** 2).sum() + (w2 ** 2).sum())
        g = (np.exp(logp) - onehot) / n
        gh = (g @ w2.T) * (pre > 0)
        grad = [z.T @ gh + l2 * w1, gh.sum(axis=0), h.T @ g + l2 * w2, g.sum(axis=0)]
        return nll, np.concatenate([a.ravel() for a in grad])

    start = np.random.default_rng(seed).normal(0.0, 0.1, sum(sizes))
    res = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    w1, b1, w2, b2 = unpack(res.x)
    return PieceModel(mean=mean, scale=scale, w1=w1, b1=b1, w2=w2, b2=b2)
