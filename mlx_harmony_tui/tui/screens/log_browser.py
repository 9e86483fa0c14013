"""The log browser: every saved chat, filtered as you type, searched in full, previewed, opened or replayed.

Listing and searching run in worker threads and come back as messages, so a
thousand logs never stall typing. A damaged log is listed with its reason and
can be checked (and safely repaired) from here; nothing is erased: delete
moves the file to the trash folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from ...chat.export import export_chat
from ...chat.terminal_text import show_controls
from ...config.settings import export_folder
from ...errors import UserError
from ...logs.branches import path_to
from ...logs.store import ChatLog, ChatStore, check_log, read_chat_file, repair_log
from ...models.catalog import model_label
from ..commands import ScreenActions
from .dialogs import Confirm, Report, TextPrompt

SEARCH_DELAY_S = 0.25  # full-text search starts once typing pauses this long
PAGE = 150  # rows added to the table at a time: more come as the cursor nears the end
SORTS = {"date": "updated", "title": "title", "model": "model"}
COLUMNS = (("title", "Title", 28), ("first", "First message", 30), ("model", "Model", 20), ("date", "Updated", 16),
           ("turns", "Turns", 5), ("branches", "Branches", 8), ("size", "Size", 8))


@dataclass(frozen=True)
class BrowserChoice:
    """What the browser hands back to the app: ``action`` is open, replay or rerun."""

    action: str
    path: Path


class LogsListed(Message):
    def __init__(self, summaries: list, seconds: float):
        super().__init__()
        self.summaries = summaries
        self.seconds = seconds


class SearchDone(Message):
    def __init__(self, query: str, hits: dict[str, str], seconds: float):
        super().__init__()
        self.query = query
        self.hits = hits
        self.seconds = seconds


class PreviewReady(Message):
    def __init__(self, file: str, text: Text):
        super().__init__()
        self.file = file
        self.text = text


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _date(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso[:16]




class LogBrowser(Screen[BrowserChoice | None]):
    """Saved chats: type to filter (and search every message), Enter opens, letters act on the highlighted one."""

    CSS_PATH = "log_browser.tcss"
    COMMANDS = {ScreenActions}
    BINDINGS = [
        Binding("escape", "close", "Back", id="browser_close"),
        Binding("enter", "choose('open')", "Open", id="browser_open", show=False),
        Binding("f5", "choose('replay')", "Replay", id="browser_replay"),
        Binding("f6", "choose('rerun')", "Re-run", id="browser_rerun"),
        Binding("f2", "rename", "Rename", id="browser_rename"),
        Binding("f8", "delete", "Delete", id="browser_delete"),
        Binding("f3", "export('md')", "Export .md", id="browser_export_md"),
        Binding("f4", "export('json')", "Export .json", id="browser_export_json"),
        Binding("f7", "check", "Check", id="browser_check"),
        Binding("f9", "sort('date')", "Sort date", id="browser_sort_date"),
        Binding("f10", "sort('title')", "Sort title", id="browser_sort_title"),
        Binding("f11", "sort('model')", "Sort model", id="browser_sort_model"),
        Binding("down", "move(1)", show=False, id="browser_down"),
        Binding("up", "move(-1)", show=False, id="browser_up"),
        Binding("pagedown", "move(10)", show=False, id="browser_page_down"),
        Binding("pageup", "move(-10)", show=False, id="browser_page_up"),
    ]

    def __init__(self, store=None):
        super().__init__()
        self.store = store or ChatStore()
        self.summaries: list = []
        self.hits: dict[str, str] = {}  # file -> snippet, for the current query
        self.hits_query = ""
        self.sort_key = "date"
        self.sort_reverse = True
        self.matching: list = []  # the summaries that match the filter, sorted
        self.rows: list = []  # the first of them, as listed in the table so far
        self.listed_s: float | None = None  # how long the listing took (bench logs reads it)
        self.search_s: float | None = None
        self._search_timer = None

    def compose(self) -> ComposeResult:
        with Vertical(id="browser"):
            yield Input(placeholder="type to filter by title, first line or model, and to search every message", id="browser-filter")
            with Vertical(id="browser-body"):
                yield DataTable(id="browser-table", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="browser-preview"):
                    yield Static("", id="preview-text")
            yield Label("loading…", id="browser-status", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.query_one(Input).focus()
        self._started = time.perf_counter()
        self._list()

    # listing, filtering, searching ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="browser-list")
    def _list(self) -> None:
        start = time.perf_counter()
        summaries = self.store.list()
        self.post_message(LogsListed(summaries, time.perf_counter() - start))

    def on_logs_listed(self, message: LogsListed) -> None:
        self.summaries = message.summaries
        self._fill()
        self.listed_s = time.perf_counter() - self._started

    @property
    def query_text(self) -> str:
        return self.query_one(Input).value.strip()

    def _matches(self, summary) -> bool:
        needle = self.query_text.lower()
        if not needle:
            return True
        fields = (summary.title, summary.first_user_line, summary.model, summary.file, summary.damaged)
        return any(needle in (f or "").lower() for f in fields) or summary.file in self.hits

    def _sorted(self, rows: list) -> list:
        field = SORTS[self.sort_key]

        def key(s):
            value = getattr(s, field) or ""
            return model_label(value).lower() if field == "model" else value.lower() if field == "title" else value

        return sorted(rows, key=key, reverse=self.sort_reverse)

    def _fill(self) -> None:
        """Rebuild the table from the summaries that match, keeping the highlighted chat where it can."""
        table = self.query_one(DataTable)
        highlighted = self.current
        table.clear()
        self.matching = self._sorted([s for s in self.summaries if self._matches(s)])
        self.rows = []
        keep = [s.file for s in self.matching].index(highlighted.file) if highlighted in self.matching else 0
        self._add_rows(max(PAGE, keep + 1))
        table.move_cursor(row=keep)
        self._show_status()
        self._preview()

    def _add_rows(self, count: int) -> None:
        table = self.query_one(DataTable)
        for s in self.matching[len(self.rows) : len(self.rows) + count]:
            if s.damaged:
                title = Text("⚠ damaged", style="bold red")
                first = Text(show_controls(s.damaged.split(": damaged: ")[-1]), style="red")
            else:
                title = Text(show_controls(s.title or "(untitled)"))
                first = Text(show_controls(s.first_user_line or ""))
            if s.file in self.hits:
                title.append(" ⌕", style="bold")
            table.add_row(title, first, model_label(s.model), _date(s.updated), str(s.turns),
                          str(s.branches) if s.branches > 1 else "", _size(s.size), key=s.file)
            self.rows.append(s)

    def _show_status(self) -> None:
        damaged = sum(1 for s in self.summaries if s.damaged)
        status = f"{len(self.matching)} of {len(self.summaries)} chats · sorted by {self.sort_key}"
        if len(self.rows) < len(self.matching):
            status += f" · {len(self.rows)} listed so far (more as you scroll)"
        if damaged:
            status += f" · {damaged} damaged"
        if self.hits_query and self.hits_query == self.query_text:
            status += f" · {len(self.hits)} with “{self.hits_query}” in their messages"
        self.query_one("#browser-status", Label).update(status)

    @on(Input.Changed, "#browser-filter")
    def _filter_changed(self) -> None:
        self._fill()
        if self._search_timer is not None:
            self._search_timer.stop()
        query = self.query_text
        if query:
            self._search_timer = self.set_timer(SEARCH_DELAY_S, lambda: self._search(query))
        elif self.hits:
            self.hits, self.hits_query = {}, ""
            self._fill()

    @work(thread=True, exclusive=True, group="browser-search")
    def _search(self, query: str) -> None:
        start = time.perf_counter()
        hits = self.store.search(query, [s.file for s in self.summaries if not s.damaged])
        self.post_message(SearchDone(query, hits, time.perf_counter() - start))

    def on_search_done(self, message: SearchDone) -> None:
        self.search_s = message.seconds
        if message.query == self.query_text:
            self.hits, self.hits_query = message.hits, message.query
            self._fill()

    # the highlighted chat --------------------------------------------------------------------------------

    @property
    def current(self):
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or not (0 <= table.cursor_row < len(self.rows)):
            return None
        return self.rows[table.cursor_row]

    def action_move(self, rows: int) -> None:
        table = self.query_one(DataTable)
        if self.rows:
            if table.cursor_row + rows >= len(self.rows) - 1 and len(self.rows) < len(self.matching):
                self._add_rows(PAGE)
            table.move_cursor(row=min(max(table.cursor_row + rows, 0), len(self.rows) - 1))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.rows) - 10 and len(self.rows) < len(self.matching):
            self._add_rows(PAGE)
            self._show_status()
        self._preview()

    @on(DataTable.HeaderSelected)
    def _header(self, event: DataTable.HeaderSelected) -> None:
        key = {"date": "date", "title": "title", "model": "model"}.get(str(event.column_key.value))
        if key:
            self.action_sort(key)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_choose("open")

    @on(Input.Submitted, "#browser-filter")
    def _submitted(self) -> None:
        self.action_choose("open")

    def _preview(self) -> None:
        summary = self.current
        if summary is None:
            self.query_one("#preview-text", Static).update("no chat" if self.summaries else "no saved chats yet")
            return
        self._load_preview(summary, self.hits.get(summary.file))

    @work(thread=True, exclusive=True, group="browser-preview")
    def _load_preview(self, summary, snippet: str | None) -> None:
        self.post_message(PreviewReady(summary.file, preview_text(self.store.root / summary.file, summary, snippet)))

    def on_preview_ready(self, message: PreviewReady) -> None:
        current = self.current
        if current is not None and current.file == message.file:
            self.query_one("#preview-text", Static).update(message.text)

    # actions -----------------------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_choose(self, action: str) -> None:
        summary = self.current
        if summary is None:
            return
        if summary.damaged:
            self.notify(f"{summary.file} is damaged: F7 checks it.", severity="warning")
            return
        self.dismiss(BrowserChoice(action, self.store.root / summary.file))

    def action_sort(self, key: str) -> None:
        self.sort_reverse = not self.sort_reverse if key == self.sort_key else key == "date"
        self.sort_key = key
        self._fill()

    def action_rename(self) -> None:
        summary = self.current
        if summary is None or summary.damaged:
            return

        def done(title: str | None) -> None:
            if title is None:
                return
            try:
                self._log(summary).rename(title)
            except UserError as exc:
                self.notify(str(exc), severity="error")
                return
            self._list()

        self.app.push_screen(TextPrompt("New title", summary.title or ""), done)

    def _log(self, summary):
        return ChatLog(self.store.root / summary.file, summary.chat_id)

    def action_delete(self) -> None:
        summary = self.current
        if summary is None:
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                where = self.store.trash(self.store.root / summary.file)
            except (OSError, UserError) as exc:
                self.notify(f"not deleted: {exc}", severity="error")
                return
            self.notify(f"Moved to {where}")
            self._list()

        name = summary.title or summary.file
        self.app.push_screen(Confirm(f"Delete “{name}”? It goes to the trash folder and can be restored from there.", "Delete"), done)

    def action_export(self, fmt: str) -> None:
        summary = self.current
        if summary is None or summary.damaged:
            return
        try:
            path = export_chat(self._log(summary), fmt, export_folder(self.app.app_settings))
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"Exported to {path}")

    def action_check(self) -> None:
        summary = self.current
        if summary is None:
            return
        path = self.store.root / summary.file
        problems = check_log(path)
        repairable = not summary.damaged and any("not repaired automatically" not in p for p in problems)
        body = "\n".join(problems) if problems else "No problems found."

        def done(repair: bool | None) -> None:
            if repair:
                try:
                    fixed = repair_log(path)
                except UserError as exc:
                    self.notify(str(exc), severity="error")
                    return
                self.notify(f"Repaired {len(fixed)} problem(s) in {path.name}.")
                self._list()

        self.app.push_screen(Report(f"Check of {summary.file}", body, "Repair" if repairable else None), done)


def preview_text(path: Path, summary, snippet: str | None, messages: int = 8) -> Text:
    """The highlighted chat: its details, where the search hit is, and its last messages (control characters written
    out)."""
    text = Text()
    if summary.damaged:
        text.append("Damaged log\n", style="bold red")
        text.append(show_controls(summary.damaged) + "\n\nF7 checks it; the file is left as it is.")
        return text
    try:
        chat = read_chat_file(path)[0].active()
    except UserError as exc:
        text.append(show_controls(str(exc)), style="red")
        return text
    meta = chat.metadata
    text.append(show_controls(meta.title or "(untitled)") + "\n", style="bold")
    details = [f"model {model_label(meta.last_model_path or meta.model_path)}", f"started {_date(meta.created_at.iso)}"]
    if meta.profile:
        details.append(f"profile {meta.profile}")
    if summary.branches > 1:
        details.append(f"{summary.branches} branches")
    text.append(" · ".join(details) + "\n", style="dim")
    if snippet:
        text.append("\nfound: ", style="bold")
        text.append(show_controls(snippet) + "\n")
    branch = [m for m in path_to(chat, None) if m.role in ("user", "assistant", "tool")]
    if len(branch) > messages:
        text.append(f"\n… {len(branch) - messages} earlier messages\n", style="dim")
    for message in branch[-messages:]:
        text.append(f"\n{message.role}", style="bold")
        if message.cancelled:
            text.append(" (cancelled)", style="dim")
        body = message.content.strip() or ("[tool call]" if message.tool_calls else "")
        text.append(": " + show_controls(body[:400] + ("…" if len(body) > 400 else "")) + "\n")
    return text
