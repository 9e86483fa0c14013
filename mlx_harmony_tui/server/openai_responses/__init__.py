"""OpenAI's Responses API (``POST /v1/responses``, ``GET /v1/responses/{id}``) on the same generation path as chat completions."""
