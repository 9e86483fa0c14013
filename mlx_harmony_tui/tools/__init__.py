"""Tools that really run: python (sandboxed), apply_patch (inside a workspace), browser, and MCP servers' tools.

Each tool takes the model's call text and gives back a :class:`ToolOutput`; a
failure the model caused (bad code, a patch that does not match, a page that
cannot be opened) is an output with ``ok=False``, never an exception.
"""
