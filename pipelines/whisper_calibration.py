"""Record what Whisper's model parts really receive while ``generate()`` runs, in little memory.

optimum-intel calls each part through an OpenVINO request; we stand in for the request, keep a
copy of every input dict and pass the call on. Two things make this usable for NNCF:

* **Memory.** Within one utterance the decoder receives the same large tensors at every step
  (``encoder_hidden_states`` for the stateful decoder, the cross-attention keys/values for
  decoder_with_past: 18 MB a step for tiny.en). Tensors are stored once by content, so 50 clips
  cost one copy per clip instead of one per step (the stateless capture held 12.7 GB before).
  ``limit`` stops recording a part once NNCF would not read more (it takes the first
  ``subset_size`` items).
* **State.** A stateful decoder's step depends on the KV cache built by the steps before it.
  NNCF's OpenVINO engine resets the state before *every* item unless the item carries
  ``nncf.definitions.NNCF_DATASET_RESET_STATE_KEY``; we set it True on the first step of each
  utterance (where optimum calls ``reset_state()``) and False elsewhere, so NNCF replays the
  steps in order with the state reset between utterances, as generation ran.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import openvino as ov


def _as_array(value: Any) -> np.ndarray:
    """numpy view of an input value: numpy array, torch tensor, OpenVINO tensor or Python scalar."""

    return np.asarray(value.data if isinstance(value, ov.Tensor) else value)


class InputStore:
    """Inputs one model part received, in call order, with repeated tensors stored once."""

    def __init__(self, stateful: bool, limit: int | None = None) -> None:
        self.stateful = stateful
        self.limit = limit
        self.items: list[dict[str, Any]] = []
        self._tensors: dict[tuple, np.ndarray] = {}
        self._reset_next = True  # the first recorded step of a stateful part starts an utterance

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.items) >= self.limit

    @property
    def unique_bytes(self) -> int:
        """Bytes held by the distinct tensors (what recording costs in memory)."""
        return sum(a.nbytes for a in self._tensors.values())

    def _intern(self, name: str, value: Any) -> np.ndarray:
        array = np.ascontiguousarray(_as_array(value))
        digest = hashlib.blake2b(memoryview(array).cast("B"), digest_size=16).digest() if array.size else b""
        key = (name, array.dtype.str, array.shape, digest)
        kept = self._tensors.get(key)
        if kept is None:
            kept = self._tensors[key] = array.copy()
        return kept

    def mark_reset(self) -> None:
        self._reset_next = True

    def add(self, inputs: Any) -> None:
        if not isinstance(inputs, dict) or self.full:
            return
        item: dict[str, Any] = {k: self._intern(k, v) for k, v in inputs.items()}
        if self.stateful:
            from nncf.definitions import NNCF_DATASET_RESET_STATE_KEY

            item[NNCF_DATASET_RESET_STATE_KEY] = self._reset_next
        self._reset_next = False
        self.items.append(item)


class _RecordingRequest:
    """Stands in for an OpenVINO request inside optimum's model parts and records every input."""

    def __init__(self, request: Any, store: InputStore) -> None:
        self._request = request
        self._store = store

    def __call__(self, inputs=None, *args, **kwargs):
        self._store.add(inputs)
        return self._request(inputs, *args, **kwargs)

    def infer(self, inputs=None, *args, **kwargs):
        self._store.add(inputs)
        return self._request.infer(inputs, *args, **kwargs)

    def start_async(self, inputs=None, *args, **kwargs):
        self._store.add(inputs)
        return self._request.start_async(inputs, *args, **kwargs)

    def reset_state(self):
        self._store.mark_reset()
        return self._request.reset_state()

    def __getattr__(self, name: str):
        return getattr(self._request, name)


def _is_stateful(request: Any) -> bool:
    try:
        return len(request.query_state()) > 0
    except (AttributeError, RuntimeError):
        return False


@contextmanager
def recording_inputs(ov_model: Any, parts: list[str], limit: int | None = None) -> Iterator[dict[str, InputStore]]:
    """Record the inputs each named part of an optimum model receives; requests come back even on error."""
    stores: dict[str, InputStore] = {}
    saved: dict[str, Any] = {}
    try:
        for name in parts:
            part = getattr(ov_model, name)
            part.compile()
            saved[name] = part.request
            stores[name] = InputStore(_is_stateful(part.request), limit)
            part.request = _RecordingRequest(part.request, stores[name])
        yield stores
    finally:
        for name, request in saved.items():
            getattr(ov_model, name).request = request
