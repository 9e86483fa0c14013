"""The sampling pane: a slider per parameter, the seed, and (GPT-OSS) the reasoning effort."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select

from ...harmony.render import EFFORTS
from .slider import Slider, SliderSpec

SLIDERS = (
    SliderSpec("temperature", "temperature", 0.0, 2.0, 0.05, 0.25),
    SliderSpec("top_p", "top-p", 0.0, 1.0, 0.01, 0.1),
    SliderSpec("top_k", "top-k", 0, 200, 1, 10, integer=True),
    SliderSpec("min_p", "min-p", 0.0, 1.0, 0.01, 0.1),
    SliderSpec("repetition_penalty", "rep penalty", 0.5, 2.0, 0.01, 0.1),
    SliderSpec("presence_penalty", "presence", -2.0, 2.0, 0.05, 0.25),
    SliderSpec("frequency_penalty", "frequency", -2.0, 2.0, 0.05, 0.25),
    SliderSpec("xtc_probability", "XTC prob.", 0.0, 1.0, 0.05, 0.25),
    SliderSpec("xtc_threshold", "XTC thresh.", 0.0, 0.5, 0.01, 0.05),
    SliderSpec("max_tokens", "max tokens", 16, 8192, 16, 256, integer=True),
)


class SamplingPanel(VerticalScroll, can_focus=False):  # its sliders are the stop, not the pane
    """Sliders for the sampling parameters, the seed, and (GPT-OSS) the reasoning effort."""

    class SeedChanged(Message):
        def __init__(self, seed: int | None):
            super().__init__()
            self.seed = seed

    class EffortChanged(Message):
        def __init__(self, effort: str):
            super().__init__()
            self.effort = effort

    def __init__(self, values: dict, id: str | None = None):
        super().__init__(id=id)
        self.values = values

    def compose(self) -> ComposeResult:
        yield Label("Sampling", classes="pane-title")
        for spec in SLIDERS:
            yield Slider(spec, float(self.values.get(spec.field, spec.low)), id=f"slider-{spec.field}")
        seed = self.values.get("seed")
        yield Input("" if seed is None else str(seed), placeholder="seed (empty: random)", id="seed-input", type="integer")
        effort = Select(
            [(f"reasoning effort: {e}", e) for e in EFFORTS], value="medium", allow_blank=False, id="effort-select"
        )
        effort.display = False  # only GPT-OSS models reason on request
        yield effort

    def show_effort(self, effort: str | None) -> None:
        """Show the GPT-OSS reasoning effort (``None`` hides the control for other models)."""
        select = self.query_one("#effort-select", Select)
        select.display = effort is not None
        if effort is not None and select.value != effort:
            with select.prevent(Select.Changed):
                select.value = effort

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "effort-select":
            event.stop()
            self.post_message(self.EffortChanged(str(event.value)))

    def set_values(self, values: dict) -> None:
        """Show ``values`` (after a profile switch) without announcing them as changes."""
        self.values = values
        for spec in SLIDERS:
            self.query_one(f"#slider-{spec.field}", Slider).show(float(values.get(spec.field, spec.low)))
        seed = values.get("seed")
        self.query_one("#seed-input", Input).value = "" if seed is None else str(seed)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "seed-input":
            event.stop()
            self.post_message(self.SeedChanged(int(event.value) if event.value.strip() else None))
