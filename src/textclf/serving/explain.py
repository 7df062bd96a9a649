"""POST /explain: which words pushed a text toward its label (see textclf.inference.explain).

Mounted by create_app as a router; the explainer is built on the first request (it may load a
torch copy of an ONNX-served model) and runs in a worker thread, one explanation at a time.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Callable, Union

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from textclf.inference.explain import DEFAULT_STEPS, MAX_STEPS, ExplainError


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: Union[str, list[str]] = Field(..., description="One text, or one [text, text_pair] pair.")
    target: str | None = Field(None, description="The label to explain (default: the predicted one).")
    steps: int = Field(DEFAULT_STEPS, ge=2, le=MAX_STEPS, description="Integration steps.")


class Word(BaseModel):
    word: str
    segment: int
    start: int
    end: int
    attribution: float


class Segment(BaseModel):
    text: str
    attribution: float | None


class Explanation(BaseModel):
    label: str
    score: float
    target: str
    target_score: float
    method: str
    unit: str
    steps: int
    convergence_delta: float
    truncated: bool
    words: list[Word]
    segments: list[list[Segment]]


def explain_router(ready_predictor: Callable, api_error: Callable[[int, str], Exception]) -> APIRouter:
    """`ready_predictor()` returns the loaded Predictor (or raises the app's 503);
    `api_error(status, message)` builds the app's JSON error."""
    router = APIRouter()
    state: dict = {"explainer": None, "for": None}
    lock = threading.Lock()

    def explainer(predictor):
        with lock:
            if state["for"] is not predictor:
                from textclf.inference.explain import Explainer
                state["explainer"], state["for"] = Explainer(predictor), predictor
            return state["explainer"]

    def run(predictor, text, pair, target, steps):
        try:
            return explainer(predictor).explain(text, pair, target=target, steps=steps)
        except ExplainError as exc:
            missing = "captum" in str(exc)
            raise api_error(501 if missing else 422, str(exc)) from None

    @router.post("/explain", response_model=Explanation,
                 responses={401: {"description": "No API key"}, 422: {"description": "Bad input"},
                            501: {"description": "captum is not installed"},
                            503: {"description": "Model not ready"}})
    async def explain(req: ExplainRequest):
        """Per-word attributions (integrated gradients, in log-odds) toward the label."""
        p = ready_predictor()
        if isinstance(req.inputs, str):
            text, pair = req.inputs, None
        elif len(req.inputs) == 2:
            text, pair = req.inputs
        else:
            raise api_error(422, "inputs must be one text or one [text, text_pair] pair.")
        return await asyncio.to_thread(run, p, text, pair, req.target, req.steps)

    return router
