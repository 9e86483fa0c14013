"""Harmony, the response format of OpenAI's GPT-OSS models."""
