"""``mlx-harmony-server``: an OpenAI-compatible HTTP server over the engine.

:func:`mlx_harmony_tui.server.app.create_app` builds the FastAPI app;
:mod:`mlx_harmony_tui.server.cli` runs it with uvicorn.
"""
