"""A random-weight ministral3 model (4 layers, the default model's tokenizer): the smallest model here that mlx-lm
can split across ranks by layers (``pipeline``) as well as by heads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CONFIG = {"model_type": "ministral3", "hidden_size": 64, "num_hidden_layers": 4, "intermediate_size": 128,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-5, "vocab_size": 49152,
          "max_position_embeddings": 4096, "tie_word_embeddings": True,
          "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "llama_4_scaling_beta": 0.1,
                              "original_max_position_embeddings": 4096}}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def build_tiny_pipeline_model(out: Path, tokenizer_from: Path) -> Path:
    """Write the model folder; weights are scaled up from mlx's initialisation so greedy tokens vary."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import ministral3

    out.mkdir(parents=True, exist_ok=True)
    mx.random.seed(0)
    model = ministral3.Model(ministral3.ModelArgs.from_dict(CONFIG))
    weights = {k: v if "norm" in k else v * 4.0 for k, v in tree_flatten(model.parameters())}
    mx.save_safetensors(str(out / "model.safetensors"), weights)
    for name in TOKENIZER_FILES:
        shutil.copy(tokenizer_from / name, out / name)
    (out / "config.json").write_text(json.dumps(CONFIG))  # last: its presence means the folder is complete
    return out
