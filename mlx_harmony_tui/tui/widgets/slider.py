"""A slider for one sampling value: keys, a click, or a typed value move it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
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


LABEL = 12  # columns for the name, its last one always blank
VALUE = 8  # columns for the value, its first one always blank


def fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns, cut with an ellipsis."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class Slider(Widget, can_focus=True):
    """A value between ``low`` and ``high``: arrows move by ``step``, shift+arrows or page keys by
    ``coarse``, home/end jump, a click sets it, Enter lets you type it.

    The sliders of a panel are one stop of the Tab cycle: up/down move between
    them, Tab and shift+Tab leave them all.
    """

    BINDINGS = [
        ("left", "nudge(-1)", "less"),
        ("right", "nudge(1)", "more"),
        ("shift+left,pagedown", "nudge(-10)", "much less"),
        ("shift+right,pageup", "nudge(10)", "much more"),
        ("home", "jump(0)", "lowest"),
        ("end", "jump(1)", "highest"),
        ("enter", "edit", "type a value"),
        Binding("up", "neighbour(-1)", "slider above", show=False),
        Binding("down", "neighbour(1)", "slider below", show=False),
        Binding("tab", "leave(1)", "past the sliders", show=False),
        Binding("shift+tab", "leave(-1)", "before the sliders", show=False),
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

    def _label_width(self) -> int:
        return min(LABEL, max(self.size.width - VALUE - 4, 3))

    def _bar_width(self) -> int:
        return max(self.size.width - self._label_width() - VALUE, 4)

    def render(self) -> Text:
        label_width, width = self._label_width(), self._bar_width()
        fraction = (self.value - self.spec.low) / (self.spec.high - self.spec.low)
        filled = int(round(fraction * width))
        bar = Text(fit(self.spec.label, label_width - 1).ljust(label_width - 1) + " ")
        bar.append("━" * filled, style="bold")
        bar.append("─" * (width - filled), style="dim")
        bar.append(" " + fit(self.text_value(), VALUE - 1).rjust(VALUE - 1))
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

    def _sliders(self) -> list["Slider"]:
        return list(self.parent.query_children(Slider)) if self.parent is not None else [self]

    def action_neighbour(self, step: int) -> None:
        sliders = self._sliders()
        index = sliders.index(self) + step
        if 0 <= index < len(sliders):
            self._move_focus(sliders[index])

    def action_leave(self, direction: int) -> None:
        """Focus what comes after the last slider (or before the first) in the Tab cycle."""
        sliders, chain = self._sliders(), self.screen.focus_chain
        edge = sliders[-1] if direction > 0 else sliders[0]
        if edge in chain:
            self._move_focus(chain[(chain.index(edge) + direction) % len(chain)])

    def _move_focus(self, widget: Widget) -> None:
        """Focus ``widget`` now, not after the keys already queued: each key of a burst (or a held key) moves on from
        where the one before it went (``Widget.focus`` waits its turn, so a burst would move one step)."""
        self.screen.set_focus(widget)

    def on_click(self, event: events.Click) -> None:
        width = self._bar_width()
        position = event.x - self._label_width()
        if 0 <= position <= width:
            self.set_value(self.spec.low + (self.spec.high - self.spec.low) * position / width)
