"""Content hashes of arrays and generator files: the keys of caches and checkpoints.

No kedro import here, so training code that needs a hash stays importable without kedro.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from faceless.utils.atomic import read_json, write_json
from faceless.utils.npy import whole_npy_file

HASH_CHUNK = 64 * 1024 * 1024
#: Next to a hashed ``.npy`` file: its digest and the file's identity when it was hashed.
DIGEST_SUFFIX = ".digest.json"


def array_digest(array: np.ndarray) -> str:
    """A content hash of an array (shape, dtype and bytes), streamed in chunks for memmaps.

    A whole ``.npy`` file mapped read-only (what the catalog's arrays and the upscale cache load)
    is hashed once: the digest is kept next to it (``<file>.digest.json``) with the file's size,
    modification time and inode, and served from there while they are unchanged. At the seed's
    scale this is what keeps a cache hit cheap: hashing 500k 64 px frames (6 GB) costs seconds,
    reading the record microseconds (``bench/bench_upscale.py`` prints both).
    """
    source = _whole_readonly_file(array)
    if source is None:
        return _hash(array)
    identity = _identity(source)
    record_path = Path(f"{source}{DIGEST_SUFFIX}")
    record = read_json(record_path)
    if isinstance(record, dict) and record.get("file") == identity and isinstance(record.get("digest"), str):
        return record["digest"]
    digest = _hash(array)
    if _identity(source) == identity:  # not rewritten while we read it
        try:
            write_json(record_path, {"file": identity, "digest": digest})
        except OSError:  # a read-only folder: the digest is still right, only not remembered
            pass
    return digest


def _whole_readonly_file(array: np.ndarray) -> str | None:
    """The path of the ``.npy`` file ``array`` maps as a whole, read-only; None for anything else
    (an in-memory array, a slice or view of a memmap, a writable or copy-on-write map)."""
    if getattr(array, "mode", None) != "r":
        return None
    path = whole_npy_file(array)
    return None if path is None else str(path)


def _identity(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def _hash(array: np.ndarray) -> str:
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
