"""mlx-harmony: chat with local MLX language models, GPT-OSS and Harmony first.

``from mlx_harmony_tui import TokenGenerator`` is the Python API; the import
is lazy so command-line start-up never pays for MLX or mlx-lm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = ["TokenGenerator", "SamplingParams", "UserError", "__version__"]

if TYPE_CHECKING:
    from .config.sampling import SamplingParams
    from .engine.token_generator import TokenGenerator
    from .errors import UserError


def __getattr__(name: str) -> Any:
    if name == "TokenGenerator":
        from .engine.token_generator import TokenGenerator

        return TokenGenerator
    if name == "SamplingParams":
        from .config.sampling import SamplingParams

        return SamplingParams
    if name == "UserError":
        from .errors import UserError

        return UserError
    raise AttributeError(name)
