"""Micro-batching: concurrent requests are queued and run together, off the event loop.

Requests put their texts on a thread-safe queue and await a future. One worker thread takes the
first waiting request, then keeps collecting for at most `max_wait` seconds or until a token
budget / text count is reached, runs the Predictor once on everything (it length-sorts and pads
per sub-batch itself), and hands each request its rows of logits. With `enabled=False` every
request is run alone: one forward per request, the baseline the load benchmark compares against.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Job:
    texts: list[str]
    pairs: list[str] | None
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    tokens: int
    queued_at: float = field(default_factory=time.perf_counter)


def estimate_tokens(texts: list[str], max_length: int) -> int:
    """A cheap token estimate for batching decisions (about 4 characters a token)."""
    return sum(min(max_length, 2 + len(t) // 4) for t in texts)


class MicroBatcher:
    def __init__(self, predictor, *, max_wait: float = 0.005, max_batch_tokens: int = 16384,
                 max_batch_texts: int = 256, enabled: bool = True, metrics=None):
        self.predictor = predictor
        self.max_wait, self.max_batch_tokens, self.max_batch_texts = max_wait, max_batch_tokens, max_batch_texts
        self.enabled = enabled
        self.metrics = metrics
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="textclf-batcher", daemon=True)
        self.thread.start()

    async def logits(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        loop = asyncio.get_running_loop()
        job = Job(texts, pairs, loop.create_future(), loop,
                  estimate_tokens(texts, self.predictor.max_length))
        self.queue.put(job)
        if self.metrics:
            self.metrics.queue_depth.set(self.queue.qsize())
        return await job.future

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the worker."""
        self.queue.put(None)
        self.thread.join(timeout)

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        jobs, tokens, texts = [first], first.tokens, len(first.texts)
        if not self.enabled:
            return jobs, False
        deadline = time.perf_counter() + self.max_wait
        while tokens < self.max_batch_tokens and texts < self.max_batch_texts:
            left = deadline - time.perf_counter()
            try:
                job = self.queue.get(timeout=max(left, 0)) if left > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            if (job.pairs is None) != (first.pairs is None):
                self.queue.put(job)   # cannot mix pair and single inputs; next round takes it
                break
            jobs.append(job)
            tokens += job.tokens
            texts += len(job.texts)
        return jobs, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self.queue.get()
            if first is None:
                break
            jobs, stop = self._collect(first)
            texts = [t for j in jobs for t in j.texts]
            pairs = [p for j in jobs for p in j.pairs] if jobs[0].pairs is not None else None
            try:
                logits = self.predictor.logits(texts, pairs)
                error = None
            except Exception as exc:   # handed to the awaiting requests, never kills the worker
                logits, error = None, exc
            if self.metrics:
                self.metrics.batch_size.observe(len(texts))
                self.metrics.tokens.inc(sum(j.tokens for j in jobs))
                self.metrics.queue_depth.set(self.queue.qsize())
            start = 0
            for j in jobs:
                n = len(j.texts)
                if error is None:
                    j.loop.call_soon_threadsafe(_resolve, j.future, logits[start:start + n], None)
                else:
                    j.loop.call_soon_threadsafe(_resolve, j.future, None, error)
                start += n


def _resolve(future: asyncio.Future, value, error) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
