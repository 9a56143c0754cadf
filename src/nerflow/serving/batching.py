"""Concurrent requests of ``nerflow serve`` batched into one model call:
:class:`Batcher` (see :mod:`nerflow.serving.app`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nerflow.data.user_texts import InputText
from nerflow.serving.settings import Batching

LOG = logging.getLogger("nerflow.serve")
Annotator = Callable[[list[InputText]], list[dict[str, Any]]]
"""Blocking: the output objects of ``texts`` (:meth:`InputText.output`), in order."""


@dataclass
class _Job:
    texts: list[InputText]
    future: asyncio.Future[list[dict[str, Any]]]


@dataclass
class Counters:
    """What the server did since it started (``/health``)."""

    requests: int = 0
    texts: int = 0
    model_calls: int = 0
    failed_calls: int = 0
    largest_call: int = 0


@dataclass
class Batcher:
    """The queue between request handlers and the model (see the module docstring)."""

    annotator: Annotator
    batching: Batching
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nerflow-model")
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[InputText]) -> list[dict[str, Any]]:
        """The output objects of ``texts``, once a model call that holds them is done."""
        self.counters.requests += 1
        self.counters.texts += len(texts)
        if not texts:
            return []
        job = _Job(texts, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        carried: _Job | None = None
        while True:
            first = carried if carried is not None else await self._queue.get()
            carried = None
            jobs, count = [first], len(first.texts)
            if self.batching.enabled:
                deadline = time.monotonic() + self.batching.wait_ms / 1000
                while count < self.batching.max_texts:
                    job = await self._next(deadline)
                    if job is None:
                        break
                    if count + len(job.texts) > self.batching.max_texts:
                        carried = job  # the first of the next call
                        break
                    jobs.append(job)
                    count += len(job.texts)
            await self._call([job for job in jobs if not job.future.done()])

    async def _next(self, deadline: float) -> _Job | None:
        """The next queued job, waiting until ``deadline`` at most."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), remaining)
        except TimeoutError:
            return None

    async def _call(self, jobs: list[_Job]) -> None:
        """One model call for ``jobs``; if it fails, each job alone (so one bad request
        fails only itself)."""
        if not jobs:
            return
        texts = [text for job in jobs for text in job.texts]
        loop = asyncio.get_running_loop()
        self.counters.model_calls += 1
        self.counters.largest_call = max(self.counters.largest_call, len(texts))
        try:
            outputs = await loop.run_in_executor(self._executor, self.annotator, texts)
        except Exception as error:
            self.counters.failed_calls += 1
            if len(jobs) > 1:
                for job in jobs:
                    await self._call([job])
                return
            LOG.exception("prediction failed on %d text(s)", len(texts))
            if not jobs[0].future.done():
                jobs[0].future.set_exception(error)
            return
        start = 0
        for job in jobs:
            end = start + len(job.texts)
            if not job.future.done():  # a client that left is not answered
                job.future.set_result(outputs[start:end])
            start = end
