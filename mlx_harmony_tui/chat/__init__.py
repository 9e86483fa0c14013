"""Conversations: a session with a model, its profile and its history."""
