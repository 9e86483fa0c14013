"""A model folder whose chat template calls tools: the default model's weights under a Qwen-style template.

The weights, config and tokenizer are linked from the default model's folder;
only ``tokenizer_config.json`` differs, carrying a ChatML template that
declares ``tools`` and writes calls as ``<tool_call>{"name", "arguments"}</tool_call>``
(the format mlx-lm reads with its ``json_tools`` parser, found from the template).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}

{% endif %}You may call these functions:
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}To call one, write <tool_call>
{"name": "...", "arguments": {...}}
</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message.role == 'tool' %}<|im_start|>user
<tool_response>
{{ message.content }}
</tool_response><|im_end|>
{% elif message.role == 'assistant' %}<|im_start|>assistant
{{ message.content }}
{%- for tool_call in message.tool_calls or [] %}
{%- if tool_call.function is defined %}{% set tool_call = tool_call.function %}{% endif %}<tool_call>
{"name": "{{ tool_call.name }}", "arguments": {{ tool_call.arguments | tojson }}}
</tool_call>
{%- endfor %}<|im_end|>
{% elif message.role != 'system' %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""


def build_tool_template_model(default_model: Path, out_dir: Path) -> Path:
    """Write the folder to ``out_dir`` (replacing it) and return it."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for item in default_model.iterdir():
        if item.name not in ("tokenizer_config.json", "mlx-harmony-model.json"):
            (out_dir / item.name).symlink_to(item.resolve())
    config = json.loads((default_model / "tokenizer_config.json").read_text())
    config["chat_template"] = TEMPLATE
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return out_dir
