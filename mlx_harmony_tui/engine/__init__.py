"""The generation engine: one inference thread, typed requests and events.

Nothing here knows about Textual; front ends consume the events in
:mod:`mlx_harmony_tui.engine.events`.
"""
