"""Weights each rank holds for gpt-oss-20b and gpt-oss-120b split by mlx-lm's ``shard()``, counted without loading them.

The models are built lazily from their published shapes, experts in MXFP4 as released and everything else either
bf16 (as released) or 8-bit (as in the mlx-community "MXFP4-Q8" conversions, groups of 64), split as the engine splits
them, and each rank adds up its arrays' sizes; nothing is computed or downloaded. Run it alone
for one process, or under the launcher for N ranks:

    python docs/distributed/memory_per_rank.py
    mlx.launch -n 2 --backend ring --python "$(which python)" docs/distributed/memory_per_rank.py
"""

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.models import gpt_oss

SHAPES = {"gpt-oss-20b": {"num_hidden_layers": 24, "num_local_experts": 32},
          "gpt-oss-120b": {"num_hidden_layers": 36, "num_local_experts": 128}}

group = mx.distributed.init()
for (name, shape), rest in [(item, rest) for rest in ("bf16", "8-bit") for item in SHAPES.items()]:
    layers = shape["num_hidden_layers"]
    args = gpt_oss.ModelArgs.from_dict({"model_type": "gpt_oss", **shape,
                                        "layer_types": ["sliding_attention", "full_attention"] * (layers // 2)})
    model = gpt_oss.Model(args)
    model.set_dtype(mx.bfloat16)
    nn.quantize(model, group_size=32, bits=4, mode="mxfp4", class_predicate=lambda path, m: ".experts." in path and hasattr(m, "to_quantized"))
    if rest == "8-bit":
        nn.quantize(model, group_size=64, bits=8,
                    class_predicate=lambda path, m: ".experts." not in path and isinstance(m, (nn.Linear, nn.Embedding)))
    if group.size() > 1:
        model.shard(group)
    held = sum(v.nbytes for _, v in tree_flatten(model.parameters()))
    every = mx.distributed.all_gather(mx.array([held / 1e9], dtype=mx.float32), group=group).tolist() if group.size() > 1 else [held / 1e9]
    # KV cache: the full-attention layers grow 2 x (KV heads x head_dim) bf16 values a token, split like the heads.
    kv_kib = (layers // 2) * 2 * args.num_key_value_heads * args.head_dim * 2 / 1024 / group.size()
    if group.rank() == 0:
        print(f"{name} (MXFP4 experts, {rest} rest): {group.size()} rank(s): weights per rank GB {', '.join(f'{gb:.2f}' for gb in every)}; "
              f"KV cache per rank {kv_kib:.0f} KiB a token")
