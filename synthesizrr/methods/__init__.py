"""Synthesis methods: prompts, retrieval banding, output parsing, and the per-method prompt builders."""
