"""A radix tree over token sequences: which kept caches share the longest prefix with a prompt.

Items (the prompt caches of :mod:`.prompt_cache`) are *marked* at the token
positions where they can be reused exactly. A prompt is looked up by walking
down the tree along its tokens: the walk's length is how many tokens it shares
with anything kept, and the marks it passes are the exact reuse points on its
way. Shared prefixes are stored once, so thousands of conversations that open
with the same system prompt cost one path, and a lookup costs the length of
the prompt, not the number of items kept.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterator, Sequence


class _Node:
    __slots__ = ("edge", "children", "marks", "parent")

    def __init__(self, edge: tuple[int, ...], parent: _Node | None):
        self.edge = edge  # the tokens from the parent to this node
        self.children: dict[int, _Node] = {}  # by the first token of the child's edge
        self.marks: dict[Hashable, None] = {}  # items reusable exactly at this node's depth, oldest first
        self.parent = parent


def common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share (tuples or lists; compared a slice at a time)."""
    if type(a) is not type(b):
        a, b = tuple(a), tuple(b)
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low] and a[:high] != b[:high]
    while high - low > 1:
        mid = (low + high) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid
    return low


class TokenTree:
    """Hashable items marked at token positions."""

    def __init__(self):
        self._root = _Node((), None)

    def mark(self, tokens: Sequence[int], item: Hashable) -> None:
        """Mark ``item`` as reusable at exactly ``tokens``."""
        self._node_at(tuple(tokens), create=True).marks[item] = None

    def unmark(self, tokens: Sequence[int], item: Hashable) -> None:
        """Take ``item``'s mark at ``tokens`` away (nothing happens if there is none)."""
        node = self._node_at(tuple(tokens), create=False)
        if node is None or item not in node.marks:
            return
        del node.marks[item]
        self._prune(node)

    def walk(self, tokens: Sequence[int]) -> tuple[int, list[tuple[int, list[Any]]], Any]:
        """Follow ``tokens`` down the tree.

        Returns how many tokens the tree holds along them, the marks met on
        the way as ``(depth, items)`` from the shallowest, and one item marked
        at or below the point where the walk stopped (None when nothing is
        marked there): an item whose tokens share the whole walk.
        """
        tokens = tuple(tokens)
        node, depth, met = self._root, 0, []
        while True:
            if node.marks:
                met.append((depth, list(node.marks)))
            child = node.children.get(tokens[depth]) if depth < len(tokens) else None
            if child is None:
                return depth, met, self._any_below(node)
            shared = common_length(child.edge, tokens[depth : depth + len(child.edge)])
            if shared < len(child.edge):
                return depth + shared, met, self._any_below(child)
            node, depth = child, depth + len(child.edge)

    def __iter__(self) -> Iterator[tuple[tuple[int, ...], Any]]:
        """Every mark as ``(tokens, item)``."""
        stack = [(self._root, ())]
        while stack:
            node, path = stack.pop()
            for item in node.marks:
                yield path, item
            for child in node.children.values():
                stack.append((child, path + child.edge))

    def node_count(self) -> int:
        count, stack = 0, [self._root]
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node.children.values())
        return count

    def _any_below(self, node: _Node) -> Any:
        stack = [node]
        while stack:
            node = stack.pop()
            if node.marks:
                return next(reversed(node.marks))  # the newest mark there
            stack.extend(node.children.values())
        return None

    def _node_at(self, tokens: tuple[int, ...], create: bool) -> _Node | None:
        node, depth = self._root, 0
        while depth < len(tokens):
            child = node.children.get(tokens[depth])
            if child is None:
                if not create:
                    return None
                leaf = _Node(tokens[depth:], node)
                node.children[tokens[depth]] = leaf
                return leaf
            shared = common_length(child.edge, tokens[depth : depth + len(child.edge)])
            if shared < len(child.edge):
                if not create:
                    return None
                child = self._split(child, shared)
            node, depth = child, depth + shared
        return node

    @staticmethod
    def _split(child: _Node, at: int) -> _Node:
        """Put a node ``at`` tokens down ``child``'s edge; return it."""
        parent = child.parent
        middle = _Node(child.edge[:at], parent)
        parent.children[middle.edge[0]] = middle
        child.edge = child.edge[at:]
        child.parent = middle
        middle.children[child.edge[0]] = child
        return middle

    def _prune(self, node: _Node) -> None:
        """Remove nodes left with nothing to mark, and join a markless node to its only child."""
        while node is not self._root and not node.marks and len(node.children) <= 1:
            parent = node.parent
            if node.children:
                (only,) = node.children.values()
                only.edge = node.edge + only.edge
                only.parent = parent
                parent.children[only.edge[0]] = only
            else:
                del parent.children[node.edge[0]]
            node = parent
