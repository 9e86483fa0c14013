"""Prompt configs, profiles and how they combine with command-line flags."""
