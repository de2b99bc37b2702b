"""Test helpers that run for real on this machine (e.g. a loopback LLM API server)."""
