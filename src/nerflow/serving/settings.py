"""The server's defaults and limits, in a module without aiohttp or torch so that the command
line reads them fast (and answers ``--help`` without the ``serve`` extra)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class Limits:
    """What one request may hold: the body is refused (413) before it is read whole."""

    max_body_bytes: int = 1 << 20
    max_texts: int = 256
    max_text_chars: int = 10_000


@dataclass(frozen=True)
class Batching:
    """Requests gathered into one model call: every request queued when the model is free
    (those that arrived while it ran the previous call) and those arriving within
    ``wait_ms`` more, up to ``max_texts`` texts (a larger request runs alone).
    ``enabled=False``: one call per request.

    No wait by default: under load, requests queue while the model runs, so calls fill
    without one; a wait only delays each call (``bench/serve_load.py``: 2 cores, a small
    BERT, 8 clients: 607 requests/s with no wait, 357 with 5 ms; 1 client: 229 and 98)."""

    enabled: bool = True
    wait_ms: float = 0.0
    max_texts: int = 64
