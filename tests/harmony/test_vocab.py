"""The o200k vocabulary is built offline from quicktok-v1 and harmony loads it without a download."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from mlx_harmony_tui.harmony import vocab


def test_built_file_has_the_expected_sha256(tmp_path):
    path = vocab.build_vocab(tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == vocab.SHA256
    first = path.read_text().splitlines()[0].split(" ")
    assert first[1] == "0" and len(path.read_text().splitlines()) == 199998


def test_harmony_loads_offline_in_a_fresh_process(tmp_path):
    # A fresh interpreter with no vocabulary anywhere and no network: harmony must load from ours.
    env = {k: v for k, v in os.environ.items() if k != vocab.ENV}
    env.update(MLX_HARMONY_CACHE_DIR=str(tmp_path), https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    code = (
        "from mlx_harmony_tui.harmony.vocab import load_encoding, vocab_status\n"
        "enc = load_encoding()\n"
        "ids = enc.encode('Harmony works offline: ünïcödé ✓')\n"
        "print(enc.decode(ids)); print(sorted(enc.stop_tokens_for_assistant_actions())); print(vocab_status().detail)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Harmony works offline: ünïcödé ✓"
    assert lines[1] == "[200002, 200012]"
    assert lines[2] == "verified"
    assert (tmp_path / "harmony" / vocab.FILENAME).is_file()


def test_a_corrupted_cached_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MLX_HARMONY_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(vocab.ENV, raising=False)
    target = tmp_path / "harmony" / vocab.FILENAME
    target.parent.mkdir(parents=True)
    target.write_text("not a vocabulary\n")
    assert vocab.vocab_status().detail.startswith("sha256 mismatch")
    assert vocab.ensure_vocab() == target
    assert hashlib.sha256(target.read_bytes()).hexdigest() == vocab.SHA256
    assert os.environ[vocab.ENV] == str(target.parent)
