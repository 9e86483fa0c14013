"""Anthropic's Messages API (``POST /v1/messages``) on the same generation path as chat completions."""
