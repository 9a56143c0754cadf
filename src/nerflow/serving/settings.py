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
    """Requests gathered into one model call: those arriving within ``wait_ms`` of the
    first, up to ``max_texts`` texts (a larger request runs alone). ``enabled=False``: one
    call per request."""

    enabled: bool = True
    wait_ms: float = 5.0
    max_texts: int = 64
