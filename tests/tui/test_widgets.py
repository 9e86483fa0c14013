"""The streamed answer's split into whole Markdown blocks and the block still being written."""

from mlx_harmony_tui.tui.widgets import settled_length


def test_whole_blocks_end_at_the_last_blank_line_outside_code_fences():
    assert settled_length("A paragraph still being wri") == 0
    text = "# Title\n\nFirst paragraph.\n\n1. one\n2. two"
    assert text[: settled_length(text)] == "# Title\n\nFirst paragraph.\n\n"
    fenced = "Intro.\n\n```python\nx = 1\n\ny = 2"  # the blank line inside the open fence does not count
    assert fenced[: settled_length(fenced)] == "Intro.\n\n"
    closed = fenced + "\n```\n\nAfter."
    assert closed[: settled_length(closed)] == fenced + "\n```\n\n"
