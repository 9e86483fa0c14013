"""``mlx-harmony bench logs``: listing many chat logs and opening a long one, in a temporary folder."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

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


def _write_log(root: Path, count: int, seed: int) -> Path:
    from ..logs.schema import Chat, ChatFile, ChatMetadata, new_id
    from ..logs.store import save_chat_file

    chat_id = new_id()
    messages = _messages(count, seed)
    meta = ChatMetadata(title=f"chat {seed}", model_path="SmolLM2-135M-Instruct", updated_at=messages[-1].timestamp)
    chat = Chat(chat_id=chat_id, metadata=meta, messages=messages)
    path = root / f"{chat_id}.json"
    save_chat_file(path, ChatFile(chat_order=[chat_id], active_chat_id=chat_id, chats={chat_id: chat}))
    return path


def run_logs_bench(logs: int = 1000, messages: int = 2000) -> dict:
    from ..logs.schema import Message
    from ..logs.store import ChatLog, ChatStore, read_chat_file

    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-logs-") as folder:
        root = Path(folder)
        for i in range(logs):
            _write_log(root, 8, i)
        store = ChatStore(root)
        start = time.perf_counter()
        cold = store.list()
        list_cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = store.list()
        list_warm_s = time.perf_counter() - start
        assert len(cold) == len(warm) == logs
        long_path = _write_log(root, messages, 7)
        size = long_path.stat().st_size
        start = time.perf_counter()
        chat_file, _, _ = read_chat_file(long_path)
        open_s = time.perf_counter() - start
        log = ChatLog(long_path, chat_file.active().chat_id)
        start = time.perf_counter()
        log.append(Message(role="user", content="one more question"))
        append_s = time.perf_counter() - start
    return {
        "logs": logs,
        "list_cold_s": list_cold_s,
        "list_indexed_s": list_warm_s,
        "long_log_messages": messages,
        "long_log_bytes": size,
        "open_long_log_s": open_s,
        "append_to_long_log_s": append_s,
    }


def format_table(result: dict) -> str:
    return "\n".join(
        [
            f"list {result['logs']} logs: {result['list_cold_s']:.3f} s without the index, {result['list_indexed_s']:.3f} s with it",
            f"open a {result['long_log_messages']}-message log ({result['long_log_bytes'] / 1e6:.1f} MB): {result['open_long_log_s']:.3f} s",
            f"append one message to it (locked read, atomic write): {result['append_to_long_log_s']:.3f} s",
        ]
    )
