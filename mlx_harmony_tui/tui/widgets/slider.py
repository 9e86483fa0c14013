"""A slider for one sampling value: keys, a click, or a typed value move it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


@dataclass(frozen=True)
class SliderSpec:
    field: str
    label: str
    low: float
    high: float
    step: float
    coarse: float
    integer: bool = False


class Slider(Widget, can_focus=True):
    """A value between ``low`` and ``high``: arrows move by ``step``, shift+arrows or page keys by
    ``coarse``, home/end jump, a click sets it, Enter lets you type it."""

    BINDINGS = [
        ("left", "nudge(-1)", "less"),
        ("right", "nudge(1)", "more"),
        ("shift+left,pagedown", "nudge(-10)", "much less"),
        ("shift+right,pageup", "nudge(10)", "much more"),
        ("home", "jump(0)", "lowest"),
        ("end", "jump(1)", "highest"),
        ("enter", "edit", "type a value"),
    ]
    DEFAULT_CSS = """
    Slider { height: 1; width: 1fr; }
    Slider:focus { background: $accent 30%; }
    """

    value: reactive[float] = reactive(0.0)

    class EditRequested(Message):
        """Enter on the slider: the user wants to type a value."""

        def __init__(self, slider: "Slider"):
            super().__init__()
            self.slider = slider

    class Changed(Message):
        def __init__(self, slider: "Slider", value: float):
            super().__init__()
            self.slider = slider
            self.value = value

        @property
        def control(self) -> "Slider":
            return self.slider

    def __init__(self, spec: SliderSpec, value: float, id: str | None = None):
        super().__init__(id=id)
        self.spec = spec
        self.set_reactive(Slider.value, self._clamp(value))

    def _clamp(self, value: float) -> float:
        value = min(max(value, self.spec.low), self.spec.high)
        if self.spec.integer:
            return float(round(value))
        return round(round(value / self.spec.step) * self.spec.step, 6)

    def text_value(self) -> str:
        return str(int(self.value)) if self.spec.integer else f"{self.value:.2f}"

    def render(self) -> Text:
        width = max(self.size.width - 24, 4)
        fraction = (self.value - self.spec.low) / (self.spec.high - self.spec.low)
        filled = int(round(fraction * width))
        bar = Text(f"{self.spec.label:<12}")
        bar.append("━" * filled, style="bold")
        bar.append("─" * (width - filled), style="dim")
        bar.append(f" {self.text_value():>8}")
        return bar

    def show(self, value: float) -> None:
        """Display ``value`` without announcing it as a change (for values set elsewhere)."""
        self.set_reactive(Slider.value, self._clamp(value))
        self.refresh()

    def set_value(self, value: float) -> None:
        value = self._clamp(value)
        if value != self.value:
            self.value = value
            self.post_message(self.Changed(self, value))

    def action_nudge(self, steps: int) -> None:
        step = self.spec.coarse if abs(steps) > 1 else self.spec.step
        self.set_value(self.value + math.copysign(step, steps))

    def action_jump(self, where: int) -> None:
        self.set_value(self.spec.high if where else self.spec.low)

    def action_edit(self) -> None:
        self.post_message(self.EditRequested(self))

    def on_click(self, event: events.Click) -> None:
        width = max(self.size.width - 24, 4)
        position = event.x - 12
        if 0 <= position <= width:
            self.set_value(self.spec.low + (self.spec.high - self.spec.low) * position / width)
