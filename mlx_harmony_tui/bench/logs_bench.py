"""``mlx-harmony bench logs``: listing many chat logs and opening a long one, in a temporary folder."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .where import busy_lines, machine_now

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches".split()


def _messages(count: int, seed: int) -> list:
    from ..logs.schema import Message

    messages, parent = [], None
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        text = " ".join(WORDS[(seed + i + k) % len(WORDS)] for k in range(40 if role == "assistant" else 12))
        message = Message(role=role, content=f"{i}: {text}", parent_id=parent)
        if role == "assistant":
            message.stats = {"ttft_s": 0.2, "decode_tps": 30.0}
            message.completion_tokens = 60
        messages.append(message)
        parent = message.id
    return messages


def _write_log(root: Path, count: int, seed: int, extra_answer: str | None = None) -> Path:
    from ..logs.schema import Chat, ChatFile, ChatMetadata, new_id
    from ..logs.store import save_chat_file

    chat_id = new_id()
    messages = _messages(count, seed)
    if extra_answer:
        messages[-1].content += " " + extra_answer
    meta = ChatMetadata(title=f"chat {seed}", model_path="SmolLM2-135M-Instruct", updated_at=messages[-1].timestamp)
    chat = Chat(chat_id=chat_id, metadata=meta, messages=messages)
    path = root / f"{chat_id}.json"
    save_chat_file(path, ChatFile(chat_order=[chat_id], active_chat_id=chat_id, chats={chat_id: chat}))
    return path


RARE_WORD = "quetzalcoatlus"  # in one answer of one log: what full-text search must find


async def _in_app(root: Path, long_path: Path) -> dict:
    """The browser and a long chat in the real app, headless, with no model behind it."""
    from ..chat.history import history_entry
    from ..config.settings import AppSettings
    from ..logs.branches import path_to
    from ..logs.store import ChatStore, read_chat_file
    from ..tui.app import HarmonyApp, StartOptions
    from ..tui.screens.log_browser import LogBrowser

    class ModelFreeApp(HarmonyApp):
        def start_session(self) -> None:  # the figures here are the screen's, not the model's
            pass

    async def until(pilot, condition) -> None:
        while not condition():
            await pilot.pause(0.005)

    app = ModelFreeApp(StartOptions(), AppSettings())
    figures = {}
    async with app.run_test(size=(160, 50)) as pilot:
        for label in ("browser_cold_s", "browser_indexed_s"):
            if label == "browser_cold_s":
                (root / ".index.json").unlink(missing_ok=True)
            start = time.perf_counter()
            browser = LogBrowser(ChatStore(root))
            await app.push_screen(browser)
            await until(pilot, lambda: browser.listed_s is not None)
            figures[label] = time.perf_counter() - start
            if label == "browser_indexed_s":
                start = time.perf_counter()
                browser.query_one("#browser-filter").value = RARE_WORD
                await until(pilot, lambda: browser.hits_query == RARE_WORD)
                figures["browser_search_s"] = time.perf_counter() - start
                figures["browser_search_hits"] = len(browser.rows)
            app.pop_screen()
        start = time.perf_counter()
        chat = read_chat_file(long_path)[0].active()
        history = [history_entry(m) for m in path_to(chat, None)]
        await app.conversation.show_history(history)
        await pilot.pause()
        figures["open_long_chat_in_app_s"] = time.perf_counter() - start
    return figures


def run_logs_bench(logs: int = 1000, messages: int = 2000) -> dict:
    from ..logs.schema import Message
    from ..logs.store import ChatLog, ChatStore, read_chat_file

    machine = machine_now()
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-logs-") as folder:
        root = Path(folder)
        for i in range(logs):
            _write_log(root, 8, i, RARE_WORD if i == logs // 2 else None)
        store = ChatStore(root)
        start = time.perf_counter()
        cold = store.list()
        list_cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = store.list()
        list_warm_s = time.perf_counter() - start
        assert len(cold) == len(warm) == logs
        start = time.perf_counter()
        hits = store.search(RARE_WORD)
        search_s = time.perf_counter() - start
        assert len(hits) == 1
        start = time.perf_counter()
        common = store.search(WORDS[3])
        search_common_s = time.perf_counter() - start
        long_path = _write_log(root, messages, 7)
        size = long_path.stat().st_size
        start = time.perf_counter()
        chat_file, _, _ = read_chat_file(long_path)
        open_s = time.perf_counter() - start
        log = ChatLog(long_path, chat_file.active().chat_id)
        start = time.perf_counter()
        log.append(Message(role="user", content="one more question"))
        append_s = time.perf_counter() - start
        import asyncio

        app_figures = asyncio.run(_in_app(root, long_path))
    return {
        **machine,
        "logs": logs,
        "list_cold_s": list_cold_s,
        "list_indexed_s": list_warm_s,
        "long_log_messages": messages,
        "long_log_bytes": size,
        "open_long_log_s": open_s,
        "append_to_long_log_s": append_s,
        "search_rare_word_s": search_s,
        "search_common_word_s": search_common_s,
        "search_common_word_hits": len(common),
        **app_figures,
    }


def format_table(result: dict) -> str:
    return "\n".join(
        [
            *busy_lines(result),
            f"list {result['logs']} logs: {result['list_cold_s']:.3f} s without the index, {result['list_indexed_s']:.3f} s with it",
            f"open a {result['long_log_messages']}-message log ({result['long_log_bytes'] / 1e6:.1f} MB): {result['open_long_log_s']:.3f} s",
            f"append one message to it (locked read, atomic write): {result['append_to_long_log_s']:.3f} s",
            f"full-text search of {result['logs']} logs: {result['search_rare_word_s']:.3f} s for a word in one answer, "
            f"{result['search_common_word_s']:.3f} s for a word in all {result['search_common_word_hits']}",
            f"log browser shows {result['logs']} logs: {result['browser_cold_s']:.3f} s without the index, "
            f"{result['browser_indexed_s']:.3f} s with it (target < 1 s)",
            f"log browser search, typing to results (incl. the 0.25 s typing pause): {result['browser_search_s']:.3f} s "
            f"(target < 1 s)",
            f"a {result['long_log_messages']}-message chat opens in the app: {result['open_long_chat_in_app_s']:.3f} s (target < 1 s)",
        ]
    )
