"""The radix tree that finds the kept cache sharing the longest prefix with a prompt, against a brute-force answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlx_harmony_tui.engine.token_tree import TokenTree, common_length

tokens = st.lists(st.integers(0, 3), max_size=12)  # a small alphabet: prefixes are shared often


def brute_common(a, b) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@given(tokens, tokens)
def test_common_length_matches_a_token_by_token_count(a, b):
    assert common_length(a, b) == brute_common(a, b)
    assert common_length(tuple(a), b) == brute_common(a, b)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.booleans(), tokens, st.integers(0, 4)), max_size=40), tokens)
def test_walk_agrees_with_every_mark_compared_one_by_one(operations, prompt):
    tree, marks = TokenTree(), set()
    for add, path, item in operations:
        if add:
            tree.mark(path, item)
            marks.add((tuple(path), item))
        else:
            tree.unmark(path, item)
            marks.discard((tuple(path), item))
    assert sorted(tree) == sorted(marks)

    shared, met, below = tree.walk(prompt)
    # How far the prompt follows the tree: the longest prefix any marked path shares with it.
    assert shared == max((brute_common(path, prompt) for path, _ in marks), default=0)
    # The marks met are exactly those on the prompt's own prefixes, shallowest first.
    expected = {}
    for path, item in marks:
        if list(path) == prompt[: len(path)]:
            expected.setdefault(len(path), set()).add(item)
    assert [depth for depth, _ in met] == sorted(expected)
    assert all(set(items) == expected[depth] for depth, items in met)
    # The item given shares the whole walk with the prompt.
    if marks:
        assert below is not None
        assert any(item == below and brute_common(path, prompt) >= shared for path, item in marks)


def test_shared_paths_are_stored_once_and_removed_with_their_last_mark():
    tree = TokenTree()
    opening = list(range(100))
    for conversation in range(50):
        tree.mark(opening + [1000 + conversation, 7, 8], conversation)
    assert tree.node_count() == 1 + 1 + 50  # the root, the opening, one leaf per conversation
    for conversation in range(50):
        tree.unmark(opening + [1000 + conversation, 7, 8], conversation)
    assert tree.node_count() == 1 and list(tree) == []
