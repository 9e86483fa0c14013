"""Check a GGUF file's structure in Python before MLX reads it.

MLX's GGUF reader (0.32) crashes the whole process on some damaged files (a
valid header followed by garbage), so every byte range it will touch is
checked here first: header, metadata, tensor descriptions, and that each
tensor's data lies inside the file.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from ..errors import UserError

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# ggml tensor type -> (bytes per block, values per block)
_BLOCKS = {
    0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32), 9: (36, 32),
    10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256), 14: (210, 256), 15: (292, 256), 30: (2, 1),
}
MAX_DIMS = 4


class _Reader:
    def __init__(self, data, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def fail(self, what: str) -> UserError:
        return UserError(f"{self.path}: damaged GGUF file ({what} at byte {self.pos})")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("unexpected end of file")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def scalar(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = self.take(self.scalar("<Q"))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("a string that is not UTF-8") from None

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind])
        if kind == STRING:
            return self.string()
        if kind == ARRAY:
            inner, count = self.scalar("<I"), self.scalar("<Q")
            if inner == ARRAY or (inner not in _SCALARS and inner != STRING):
                raise self.fail(f"array of unknown type {inner}")
            if inner in _SCALARS:
                size = struct.calcsize(_SCALARS[inner])
                self.take(size * count)  # bounds check only; values are not needed
                return None
            for _ in range(count):
                self.string()
            return None
        raise self.fail(f"metadata value of unknown type {kind}")


def check_gguf(path: Path) -> None:
    """Raise UserError naming ``path`` unless it is a structurally sound GGUF file."""
    try:
        size = path.stat().st_size
        if size < 24:
            raise UserError(f"{path}: not a GGUF file (only {size} bytes)")
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            _check(_Reader(data, path), size)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the GGUF file ({exc.strerror or exc})") from None


def _check(r: _Reader, size: int) -> None:
    if r.take(4) != MAGIC:
        raise UserError(f"{r.path}: not a GGUF file (wrong magic bytes)")
    version = r.scalar("<I")
    if version not in (2, 3):
        raise UserError(f"{r.path}: unsupported GGUF version {version}")
    tensors, entries = r.scalar("<Q"), r.scalar("<Q")
    if tensors > size // 16 or entries > size // 16:
        raise r.fail(f"impossible counts ({tensors} tensors, {entries} metadata entries)")
    alignment = 32
    for _ in range(entries):
        key = r.string()
        value = r.value(r.scalar("<I"))
        if key == "general.alignment":
            alignment = value if isinstance(value, int) and value > 0 else 0
            if not alignment:
                raise r.fail("a general.alignment that is not a positive integer")
    spans = []
    for _ in range(tensors):
        name = r.string()
        dims = r.scalar("<I")
        if not 1 <= dims <= MAX_DIMS:
            raise r.fail(f"tensor {name!r} with {dims} dimensions")
        shape = [r.scalar("<Q") for _ in range(dims)]
        kind, offset = r.scalar("<I"), r.scalar("<Q")
        if kind not in _BLOCKS:
            raise UserError(f"{r.path}: tensor {name!r} has ggml type {kind}, which MLX cannot read")
        block_bytes, block_values = _BLOCKS[kind]
        count = 1
        for d in shape:
            count *= d
        if count % block_values:
            raise r.fail(f"tensor {name!r} whose size does not fill whole blocks")
        spans.append((name, offset, count // block_values * block_bytes))
    start = -(-r.pos // alignment) * alignment
    for name, offset, nbytes in spans:
        if start + offset + nbytes > size:
            raise UserError(f"{r.path}: damaged GGUF file (tensor {name!r} runs past the end of the file; truncated download?)")
