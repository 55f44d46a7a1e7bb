"""Loading predictors for RunRequests: the registry loader, and a cache that loads each model once.

A PredictorLoader loads ``request.model`` on ``request.device`` and never sees a splitter: the
cache wraps the loaded model with the cluster splitter a request names.
"""

from __future__ import annotations

import threading
from typing import Callable

from karyostudio.gui.run_request import RunRequest
from karyostudio.models.base import Predictor

PredictorLoader = Callable[[RunRequest], Predictor]


def default_loader(request: RunRequest) -> Predictor:
    """The registry's model (a name or a manifest path) on the request's device."""
    from karyostudio.models.registry import load_predictor  # imports the model family lazily

    return load_predictor(request.model, request.device)


class PredictorCache:
    """Loads each model (and each model with its splitter) once; safe to call from worker threads.

    Loading holds the lock, so two workers asking for one model never load it twice.
    """

    def __init__(self, loader: PredictorLoader = default_loader):
        self._loader = loader
        self._cache: dict[RunRequest, Predictor] = {}
        self._lock = threading.Lock()

    def __call__(self, request: RunRequest) -> Predictor:
        with self._lock:
            return self._get(request)

    def _get(self, request: RunRequest) -> Predictor:
        if request not in self._cache:
            if request.splitter is None:
                self._cache[request] = self._loader(request)
            else:
                from karyostudio.models.overlap.stage import with_splitter  # imports torch lazily

                self._cache[request] = with_splitter(self._get(request.model_only()), request.splitter,
                                                     request.device)
        return self._cache[request]
