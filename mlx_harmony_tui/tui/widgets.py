"""The app's own widgets: turns, sliders, the input box, the tool-call list and the status bar."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Label, Markdown, Select, Static, TextArea

# --- conversation ---------------------------------------------------------------------------------


class UserTurn(Static, can_focus=True):
    """What the user sent, shown as they wrote it, with its place among edited versions when there are several.

    Focused (click or tab), e edits it (the edit becomes a new branch) and
    left/right show the other versions of it.
    """

    DEFAULT_CLASSES = "turn user-turn"
    BINDINGS = [
        Binding("e", "edit", "edit (new branch)", id="turn_edit"),
        Binding("left", "version(-1)", "previous version", id="turn_previous_version"),
        Binding("right", "version(1)", "next version", id="turn_next_version"),
    ]

    class EditRequested(Message):
        def __init__(self, turn: "UserTurn"):
            super().__init__()
            self.turn = turn

    class VersionRequested(Message):
        def __init__(self, turn: "UserTurn", step: int):
            super().__init__()
            self.turn = turn
            self.step = step

    def __init__(self, text: str, log_id: str | None = None):
        super().__init__(Text(text), markup=False)
        self.text = text
        self.log_id = log_id
        self.versions: tuple[int, int] | None = None  # (this one, how many), 1-based

    def show_versions(self, versions: tuple[int, int] | None) -> None:
        self.versions = versions if versions and versions[1] > 1 else None
        text = Text(self.text)
        if self.versions:
            text.append(f"\n⑂ version {self.versions[0]} of {self.versions[1]} · focus it, ←/→ switch, e edits", style="dim")
        self.update(text)

    def action_edit(self) -> None:
        self.post_message(self.EditRequested(self))

    def action_version(self, step: int) -> None:
        if self.versions:
            self.post_message(self.VersionRequested(self, step))


def settled_length(text: str) -> int:
    """How much of a growing Markdown text is whole blocks: up to its last blank line outside a code fence."""
    end = text.rfind("\n\n")
    while end > 0 and text.count("```", 0, end) % 2:
        end = text.rfind("\n\n", 0, end)
    return end + 2 if end > 0 else 0


class AssistantTurn(Vertical):
    """One answer: a collapsible reasoning section (GPT-OSS only) above the streamed Markdown answer.

    Whole Markdown blocks go through Textual's MarkdownStream as soon as they
    are complete; the block still being written shows as plain text below
    them. Re-rendering an unfinished block (a long list is one block) on every
    update would rebuild its widgets each time and take the CPU from the model.
    """

    DEFAULT_CLASSES = "turn assistant-turn"

    def __init__(self) -> None:
        super().__init__()
        self.reasoning: Collapsible | None = None
        self.reasoning_text = ""
        self.answer_text = ""
        self.answer = Markdown("", classes="answer")
        self.tail = Static("", classes="answer-tail", markup=False)  # the block being written
        self._settled = 0  # how much of answer_text the Markdown widget has
        self._stream = None
        self.footer = Static("", classes="turn-footer")
        self.footer_text = ""
        self.finished = False

    @classmethod
    def done(cls, answer: str, reasoning: str = "", footer: str = "") -> "AssistantTurn":
        """A finished turn, built whole before it is mounted (a saved answer brought back on screen)."""
        turn = cls()
        turn.answer_text, turn.reasoning_text, turn.footer_text = answer, reasoning, footer
        turn.answer = Markdown(answer, classes="answer")
        if reasoning:
            turn.reasoning = Collapsible(Static(Text(reasoning), classes="reasoning-text", markup=False), title="Reasoning", collapsed=True)
        turn.tail.display = False
        turn.footer.update(Text(footer))
        turn.finished = True
        return turn

    def compose(self) -> ComposeResult:
        if self.reasoning is not None:
            yield self.reasoning
        yield self.answer
        yield self.tail
        yield self.footer

    async def add_reasoning(self, text: str) -> None:
        if self.reasoning is None:
            self.reasoning = Collapsible(Static("", classes="reasoning-text", markup=False), title="Reasoning", collapsed=False)
            await self.mount(self.reasoning, before=self.answer)
        self.reasoning_text += text
        self.reasoning.query_one(".reasoning-text", Static).update(Text(self.reasoning_text))

    async def add_answer(self, text: str) -> None:
        if not self.answer_text and self.reasoning is not None:
            self.reasoning.collapsed = True  # the answer has started: fold the reasoning away
        self.answer_text += text
        settled = settled_length(self.answer_text)
        if settled > self._settled:
            if self._stream is None:
                self._stream = Markdown.get_stream(self.answer)
            await self._stream.write(self.answer_text[self._settled : settled])
            self._settled = settled
        self.tail.update(Text(self.answer_text[self._settled :]))

    async def finish(self, footer: str) -> None:
        """End the stream with one full render of the answer, and show the turn's figures."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.tail.display = False
        await self.answer.update(self.answer_text)
        self.footer_text = footer
        self.footer.update(Text(footer))
        self.finished = True


# --- tool calls -----------------------------------------------------------------------------------


class ToolCallView(Collapsible):
    """One tool call: name, arguments, status, duration and output."""

    def __init__(self, recipient: str, arguments: str, channel: str):
        self.started = time.perf_counter()
        self.recipient = recipient
        self.status = "requested"
        self.body = Static(Text(arguments), classes="tool-arguments")
        self.output = Static("", classes="tool-output")
        super().__init__(self.body, self.output, title=self._heading(), collapsed=False)
        self.channel = channel

    def _heading(self, duration: float | None = None) -> str:
        took = f" · {duration:.2f} s" if duration is not None else ""
        return f"{self.recipient} · {self.status}{took}"

    def set_result(self, status: str, output: str, duration_s: float | None = None) -> None:
        """Show how the call ended; ``duration_s`` is the tool's own run time (else the time since the call)."""
        self.status = status
        self.title = self._heading(duration_s if duration_s is not None else time.perf_counter() - self.started)
        self.output.update(Text(output, style="red" if status in ("error", "declined") else ""))


class ToolCallsPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Label("Tool calls", classes="pane-title")
        yield Static("none yet", id="no-tool-calls", classes="muted")

    async def clear(self) -> None:
        """Forget the calls shown (a new or another chat)."""
        await self.remove_children(ToolCallView)
        if not self.query("#no-tool-calls"):
            await self.mount(Static("none yet", id="no-tool-calls", classes="muted"))

    async def add_call(self, recipient: str, arguments: str, channel: str) -> ToolCallView:
        placeholder = self.query("#no-tool-calls")
        if placeholder:
            await placeholder.remove()
        view = ToolCallView(recipient, arguments, channel)
        await self.mount(view)
        view.scroll_visible()
        return view


# --- sampling controls ----------------------------------------------------------------------------


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
        self.app.push_screen(ValueEntry(self))

    def on_click(self, event: events.Click) -> None:
        width = max(self.size.width - 24, 4)
        position = event.x - 12
        if 0 <= position <= width:
            self.set_value(self.spec.low + (self.spec.high - self.spec.low) * position / width)


class ValueEntry(ModalScreen):
    """Type a slider's value; Enter applies, Esc leaves it as it was."""

    BINDINGS = [("escape", "dismiss", "cancel")]

    def __init__(self, slider: Slider):
        super().__init__()
        self.slider = slider

    def compose(self) -> ComposeResult:
        spec = self.slider.spec
        with Vertical(id="value-entry"):
            yield Label(f"{spec.label}: a value from {spec.low:g} to {spec.high:g}")
            yield Input(self.slider.text_value(), id="value-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            value = float(event.value)
        except ValueError:
            self.notify(f"{self.slider.spec.label}: {event.value!r} is not a number", severity="error")
            return
        if not (self.slider.spec.low <= value <= self.slider.spec.high):
            self.notify(f"{self.slider.spec.label}: must be from {self.slider.spec.low:g} to {self.slider.spec.high:g}", severity="error")
            return
        self.slider.set_value(value)
        self.dismiss(value)


EFFORTS = ("low", "medium", "high")

SLIDERS = (
    SliderSpec("temperature", "temperature", 0.0, 2.0, 0.05, 0.25),
    SliderSpec("top_p", "top-p", 0.0, 1.0, 0.01, 0.1),
    SliderSpec("top_k", "top-k", 0, 200, 1, 10, integer=True),
    SliderSpec("min_p", "min-p", 0.0, 1.0, 0.01, 0.1),
    SliderSpec("repetition_penalty", "rep. penalty", 0.5, 2.0, 0.01, 0.1),
    SliderSpec("xtc_probability", "XTC prob.", 0.0, 1.0, 0.05, 0.25),
    SliderSpec("xtc_threshold", "XTC thresh.", 0.0, 0.5, 0.01, 0.05),
    SliderSpec("max_tokens", "max tokens", 16, 8192, 16, 256, integer=True),
)


class SamplingPanel(VerticalScroll):
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


# --- input and status -----------------------------------------------------------------------------


class ChatInput(TextArea):
    """Multi-line input: Enter sends; ctrl+j, alt+enter or shift+enter start a new line."""

    NEWLINE_KEYS = ("ctrl+j", "alt+enter", "shift+enter", "ctrl+enter")

    class Submitted(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text
            if text.strip():
                self.post_message(self.Submitted(text))
            return
        if event.key in self.NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)


class StatusBar(Static):
    """Model, profile, state, TTFT, live tok/s, context used and peak memory."""

    model = reactive("—")
    profile = reactive("—")
    state = reactive("starting")
    ttft = reactive("")
    speed = reactive("")
    context = reactive("")
    memory = reactive("")

    def render(self) -> Text:
        parts = [
            ("model ", self.model),
            ("profile ", self.profile),
            ("", self.state),
            ("TTFT ", self.ttft),
            ("", self.speed),
            ("context ", self.context),
            ("peak ", self.memory),
        ]
        text = Text()
        for label, value in parts:
            if not value:
                continue
            if text:
                text.append("  │  ", style="dim")
            text.append(label, style="dim")
            text.append(value, style="bold" if label == "" else "")
        return text
