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
    without one, and a lone client is not delayed (``bench/README.md``, ``serve_load.py``:
    a 5 ms wait cut one client's requests/s by over four)."""

    enabled: bool = True
    wait_ms: float = 0.0
    max_texts: int = 64
