"""Content hashes of arrays and generator files: the keys of caches and checkpoints.

No kedro import here, so training code that needs a hash stays importable without kedro.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

HASH_CHUNK = 64 * 1024 * 1024


def array_digest(array: np.ndarray) -> str:
    """A content hash of an array (shape, dtype and bytes), streamed in chunks for memmaps."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([list(array.shape), str(array.dtype)]).encode())
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8) if array.size else np.zeros(0, np.uint8)
    for start in range(0, flat.size, HASH_CHUNK):
        h.update(flat[start:start + HASH_CHUNK].tobytes())
    return h.hexdigest()


def weights_digest(sr_generator: dict[str, Any] | None) -> str:
    """A content hash of a generator file's config and weights (None for bicubic)."""
    if sr_generator is None:
        return "none"
    import torch

    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(sr_generator["config"], sort_keys=True).encode())
    for name, tensor in sorted(sr_generator["state_dict"].items()):
        h.update(name.encode())
        # Raw bytes whatever the dtype (numpy has no bfloat16).
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
