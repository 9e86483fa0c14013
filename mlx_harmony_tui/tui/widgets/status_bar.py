"""The status bar: model, profile, state, generations running, TTFT, tok/s, context used, peak memory, device and BLAS."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ...chat.terminal_text import show_controls


class StatusBar(Static):
    """Model, profile, state, TTFT, live tok/s, context used and peak memory."""

    model = reactive("—")
    profile = reactive("—")
    state = reactive("starting")
    running = reactive("")  # how many generations run on the model now (this chat's, a comparison's, a re-run's)
    ttft = reactive("")
    speed = reactive("")
    context = reactive("")
    memory = reactive("")
    device = reactive("")  # where the model runs: metal, cuda, or the CPU and its BLAS
    ranks = reactive("")  # a model split across mlx.launch ranks: how many, and the memory each holds

    def render(self) -> Text:
        parts = [
            ("model ", self.model),
            ("", self.ranks),
            ("profile ", self.profile),
            ("", self.state),
            ("", self.running),
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
                text.append(" │ ", style="dim")
            text.append(label, style="dim")
            text.append(show_controls(value), style="bold" if label == "" else "")  # the state may name a tool or quote one
            if label == "model " and self.device:
                text.append(f" ({self.device})", style="dim")  # the device and BLAS, beside the model: never cut off
        return text

    def show_ranks(self, ranks: int, memory_gb: tuple[float, ...]) -> None:
        """"2 ranks" and each rank's memory, for a model split across ranks; nothing for one process."""
        memory = "/".join(f"{gb:.1f}" for gb in memory_gb)
        self.ranks = f"{ranks} ranks" + (f" {memory} GB" if memory else "") if ranks > 1 else ""

    def clear_stats(self) -> None:
        """Forget the last generation's figures (a new chat has none yet)."""
        self.ttft = self.speed = self.context = self.memory = ""

    def show_stats(self, stats, context_limit: int | None) -> None:
        """Show a generation's figures (engine ``GenerationStats``), live or final."""
        if stats.ttft_s:
            self.ttft = f"{stats.ttft_s:.2f} s"
        if stats.decode_tps:
            self.speed = f"{stats.decode_tps:.1f} tok/s"
            if stats.drafted_tokens:  # speculative decoding: how many of the drafted tokens the model kept
                self.speed += f" ({stats.accepted_tokens / stats.drafted_tokens:.0%} of drafts kept)"
        used = stats.prompt_tokens + stats.completion_tokens
        self.context = f"{used}/{context_limit}" if context_limit else str(used)
        self.memory = f"{stats.peak_memory_gb:.2f} GB"
