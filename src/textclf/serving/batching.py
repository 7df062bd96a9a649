"""Micro-batching: concurrent requests are queued and run together, off the event loop.

Requests put their texts on a thread-safe queue and await a future. A worker thread takes the
first waiting request, then keeps collecting for at most `max_wait` seconds or until a token
budget / text count is reached, runs its Predictor once on everything (it length-sorts and pads
per sub-batch itself), and hands each request its rows: the logits, and the TF-IDF model's
probabilities where the model carries an ensemble (computed for the whole batch at once, off
the event loop). Several workers (one Predictor replica each, e.g. one per core with a
single-threaded onnxruntime session) take batches from the one queue at the same time: while one
runs the model, the next collects what arrives meanwhile. With `enabled=False` every request is
run alone: one forward per request, the baseline the load benchmark compares against.
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Scored:
    """One request's rows: the fine-tuned model's logits, and the TF-IDF model's probabilities
    where the model carries an applied ensemble (else None)."""
    logits: np.ndarray
    tfidf_probs: np.ndarray | None = None


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
    def __init__(self, predictors, *, max_wait: float = 0.005, max_batch_tokens: int = 16384,
                 max_batch_texts: int = 256, enabled: bool = True, metrics=None):
        """`predictors`: a list of Predictors (replicas of one model), one worker thread each."""
        self.predictors = list(predictors)
        self.max_wait, self.max_batch_tokens, self.max_batch_texts = max_wait, max_batch_tokens, max_batch_texts
        self.enabled = enabled
        self.metrics = metrics
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.lock, self.idle = threading.Lock(), 0   # workers waiting for a first job
        self.threads = [threading.Thread(target=self._run, args=(p,), name=f"textclf-batcher-{k}", daemon=True)
                        for k, p in enumerate(self.predictors)]
        for t in self.threads:
            t.start()

    async def score(self, texts: list[str], pairs: list[str] | None = None) -> Scored:
        loop = asyncio.get_running_loop()
        job = Job(texts, pairs, loop.create_future(), loop,
                  estimate_tokens(texts, self.predictors[0].max_length))
        self.queue.put(job)
        if self.metrics:
            self.metrics.queue_depth.set(self.queue.qsize())
        return await job.future

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the workers (one stop mark each)."""
        for _ in self.threads:
            self.queue.put(None)
        deadline = time.perf_counter() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.perf_counter()))

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        jobs, tokens, texts = [first], first.tokens, len(first.texts)
        if not self.enabled:
            return jobs, False
        deadline = time.perf_counter() + self.max_wait
        # what waits now is shared with the other idle workers, not all run by the first one free
        share = -(-(1 + self.queue.qsize()) // (1 + self.idle))
        while tokens < self.max_batch_tokens and texts < self.max_batch_texts and len(jobs) < share:
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

    def _run(self, predictor) -> None:
        stop = False
        while not stop:
            with self.lock:
                self.idle += 1
            first = self.queue.get()
            with self.lock:
                self.idle -= 1
            if first is None:
                break
            jobs, stop = self._collect(first)
            texts = [t for j in jobs for t in j.texts]
            pairs = [p for j in jobs for p in j.pairs] if jobs[0].pairs is not None else None
            try:
                logits = predictor.logits(texts, pairs)
                tfidf = predictor.tfidf_probs(texts, pairs)
                error = None
            except Exception as exc:   # handed to the awaiting requests, never kills the worker
                logits, tfidf, error = None, None, exc
            if self.metrics:
                self.metrics.batch_size.observe(len(texts))
                self.metrics.tokens.inc(sum(j.tokens for j in jobs))
                self.metrics.queue_depth.set(self.queue.qsize())
            start = 0
            for j in jobs:
                n = len(j.texts)
                if error is None:
                    rows = Scored(logits[start:start + n], None if tfidf is None else tfidf[start:start + n])
                    j.loop.call_soon_threadsafe(_resolve, j.future, rows, None)
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
