"""`textclf serve`: a FastAPI app over one Predictor, with micro-batching, limits, an optional API
key, Prometheus metrics and a small web page.

POST /predict (and POST /, as text-embeddings-inference routes it) is shaped like TEI's
classification endpoint: {"inputs": "text" | ["t1", ...] | [["a", "b"], ...], "raw_scores": false,
"top_k": null, "truncate": true, "truncation_direction": "right"} -> per input a list of
{"label", "score"}, best first (multi-label: sigmoid scores, each with "selected" = at/above the
model's threshold); a single text gets its list alone. A request with "parameters" ({"top_k",
"function_to_apply"}) is the Inference API's shape, which huggingface_hub's InferenceClient sends:
its answer is always a list per input, a single text included.
"""
from __future__ import annotations

import asyncio
import hmac
import os
import threading
import time
from importlib import resources
from typing import Literal, Union

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from textclf import __version__
from textclf.inference.backends import OnnxBackend, cpu_threads, single_threaded, sleeping
from textclf.serving.batching import MicroBatcher, Scored
from textclf.serving.fastpath import dumps, plain_request, read_body, replay

MAX_BODY_BYTES = 1_000_000
MAX_INPUTS = 256


class Parameters(BaseModel):
    """The Inference API's text-classification parameters."""
    model_config = ConfigDict(extra="forbid")

    top_k: int | None = Field(None, ge=1, description="Only the k best labels per input.")
    function_to_apply: Literal["sigmoid", "softmax", "none"] | None = Field(
        None, description="Scores as sigmoid or softmax of the logits, or the logits ('none'); "
                          "default: the model's own (softmax, or sigmoid for multi-label).")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: Union[str, list[str], list[list[str]]] = Field(
        ..., description="A text, a list of texts, or a list of [text, text_pair] pairs.")
    raw_scores: bool = Field(False, description="Return logits instead of probabilities.")
    top_k: int | None = Field(None, ge=1, description="Only the k best labels per input (default: all).")
    truncate: bool = Field(True, description="Cut texts longer than the model's max length; "
                                             "false: such a text is a 422 error.")
    truncation_direction: Literal["right", "left", "Right", "Left"] = Field(
        "right", description="Which end of a too-long text is cut: right keeps its start, left its end.")
    parameters: Parameters | None = Field(None, description="The Inference API's shape (top_k, "
                                          "function_to_apply); the answer is then a list per input.")


class Label(BaseModel):
    label: str
    score: float
    selected: bool | None = None


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("textclf_requests_total", "HTTP requests", ["path", "status"],
                                registry=self.registry)
        self.latency = Histogram("textclf_request_seconds", "Request latency", ["path"],
                                 buckets=(.002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5),
                                 registry=self.registry)
        self.batch_size = Histogram("textclf_batch_texts", "Texts per model call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)
        self.queue_depth = Gauge("textclf_queue_depth", "Requests waiting for the model",
                                 registry=self.registry)
        self.tokens = Counter("textclf_tokens_total", "Tokens processed (estimated)", registry=self.registry)


class Guard:
    """Pure ASGI middleware (cheaper per request than @app.middleware("http")): refuses bodies
    over the size limit (413) and requests without the API key (401) before the app parses
    anything, and records request counts and latency per path."""

    PROTECTED = ("/predict", "/info", "/explain")
    PREDICT = ("/predict", "/")   # POST / is TEI's and the Inference API's route to the model
    COUNTED = ("/predict", "/info", "/explain", "/health", "/ready", "/")

    def __init__(self, app, *, api_key: str | None, max_body_bytes: int, metrics: "Metrics", fast=None):
        self.app, self.api_key, self.max_body_bytes, self.metrics = app, api_key, max_body_bytes, metrics
        self.fast = fast   # answers a plain POST /predict itself (textclf.serving.fastpath)

    async def _fast_predict(self, receive):
        """(response or None, receive): a plain request answered here, else the body replayed."""
        body = await read_body(receive, self.max_body_bytes)
        if body is None:
            return _error(413, f"Request body is larger than {self.max_body_bytes} bytes."), receive
        req = plain_request(body)
        if req is None:
            return None, replay(body, receive)
        try:
            return Response(dumps(await self.fast(req)), media_type="application/json"), receive
        except ApiError as exc:
            return _error(exc.status, exc.message), receive

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status = 500
        length = headers.get("content-length")
        predict_call = path in self.PREDICT and scope["method"] == "POST"
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            response = _error(413, f"Request body is larger than {self.max_body_bytes} bytes.")
        elif (self.api_key and (path in self.PROTECTED or predict_call)
              and not _authorized(headers, self.api_key)):
            response = _error(401, "Missing or wrong API key; send 'Authorization: Bearer <key>'.")
        else:
            response = None

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if (response is None and self.fast is not None and predict_call
                    and headers.get("content-type", "").startswith("application/json")):
                response, receive = await self._fast_predict(receive)
            if response is not None:
                await response(scope, receive, send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        finally:
            if path in self.COUNTED:
                self.metrics.requests.labels(path, str(status)).inc()
                self.metrics.latency.labels(path).observe(time.perf_counter() - start)


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


def _parse_inputs(inputs) -> tuple[list[str], list[str] | None, bool]:
    """(texts, pairs or None, single) from the three accepted shapes."""
    if isinstance(inputs, str):
        items, single = [inputs], True
    else:
        items, single = inputs, False
    if not items:
        raise ApiError(422, "inputs is empty; send a text or a non-empty list.")
    if len(items) > MAX_INPUTS:
        raise ApiError(422, f"Too many inputs ({len(items)}); at most {MAX_INPUTS} per request.")
    if isinstance(items[0], list):
        if any(not isinstance(x, list) or len(x) != 2 for x in items):
            raise ApiError(422, "Each pair must be a list of exactly two texts.")
        texts, pairs = [a for a, _ in items], [b for _, b in items]
    else:
        if any(not isinstance(x, str) for x in items):
            raise ApiError(422, "inputs must be all texts or all [text, text_pair] pairs.")
        texts, pairs = list(items), None
    if any(not t.strip() for t in texts + (pairs or [])):
        raise ApiError(422, "Empty text in inputs; every text needs at least one non-space character.")
    return texts, pairs, single


def create_app(predictor_factory, *, api_key: str | None = None, batching: bool = True,
               max_wait_ms: float = 5.0, max_batch_tokens: int = 16384,
               max_body_bytes: int = MAX_BODY_BYTES, model_workers: int = 0) -> FastAPI:
    """`predictor_factory()` returns a loaded Predictor; it runs in a thread at startup so
    /health answers at once and /ready turns true only when the model is loaded and warm.
    `model_workers`: model calls run at once (0: see `batch_predictors`)."""
    state: dict = {"predictor": None, "batcher": None, "error": None}
    metrics = Metrics()

    def load() -> None:
        try:
            p = predictor_factory()
            state["batcher"] = MicroBatcher(batch_predictors(p, model_workers), max_wait=max_wait_ms / 1000,
                                            enabled=batching,
                                            max_batch_tokens=max_batch_tokens, metrics=metrics)
            state["predictor"] = p
        except Exception as exc:   # surfaced by /ready and /predict as 503
            state["error"] = str(exc)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        threading.Thread(target=load, name="textclf-load", daemon=True).start()
        yield
        if state["batcher"] is not None:   # drain: queued requests still get their answers
            await asyncio.to_thread(state["batcher"].close)

    app = FastAPI(title="textclf", version=__version__, lifespan=lifespan,
                  description="Text classification with a fine-tuned transformer (textclf).")

    async def fast(req: dict):
        return await answer(**req)

    app.add_middleware(Guard, api_key=api_key, max_body_bytes=max_body_bytes, metrics=metrics, fast=fast)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return _error(400, "The body is not valid JSON.")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"Invalid request: {where or 'body'}: {first.get('msg', 'invalid')}.",
                      detail=[{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors[:10]])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    def ready_predictor():
        if state["predictor"] is None:
            raise ApiError(503, "The model is not loaded yet." if state["error"] is None
                           else f"The model failed to load: {state['error']}")
        return state["predictor"]

    @app.post("/predict", response_model=Union[list[Label], list[list[Label]]],
              responses={400: {"description": "Malformed JSON"}, 401: {"description": "No API key"},
                         413: {"description": "Body too large"}, 422: {"description": "Bad input"},
                         503: {"description": "Model not ready"}})
    async def predict(req: PredictRequest):
        # built from plain floats/strings already: skip re-validating against response_model,
        # which stays for the OpenAPI schema
        return JSONResponse(await answer(**request_fields(req)))

    app.post("/", include_in_schema=True, summary="Predict (TEI's and the Inference API's route)",
             response_model=Union[list[Label], list[list[Label]]])(predict)

    async def answer(inputs, raw_scores: bool = False, top_k: int | None = None, truncate: bool = True,
                     truncation_direction: str = "right", function_to_apply: str | None = None,
                     nested: bool = False):
        p = ready_predictor()
        texts, pairs, single = _parse_inputs(inputs)
        if pairs is not None and not p.text_pair:
            raise ApiError(422, "This model classifies single texts; send strings, not pairs.")
        if pairs is None and p.text_pair:
            raise ApiError(422, "This model classifies text pairs; send inputs as [[text, text_pair], ...].")
        if not truncate and p.long_text != "chunk":
            check_lengths(p, texts, pairs)
        if truncation_direction.lower() == "left" and p.long_text != "chunk":
            if pairs is not None:
                raise ApiError(422, "truncation_direction left cuts single texts; send pairs with right.")
            texts = keep_ends(p, texts)
        rows = await state["batcher"].score(texts, pairs)
        how = "none" if raw_scores else function_to_apply
        scores = _scores(p, rows, how, texts, pairs)
        own = how is None or how == ("sigmoid" if p.labels.multi_label else "softmax")
        thresholds = p.thresholds if p.labels.multi_label and own else None
        out = [_labels(p, row, top_k, thresholds) for row in scores]
        return out[0] if single and not nested else out

    from textclf.serving.explain import explain_router
    app.include_router(explain_router(ready_predictor, ApiError))

    @app.get("/info")
    async def info():
        p = ready_predictor()
        settings = p.settings
        return {"model": str(p.model_dir), "base_model": settings.base_model,
                "task": p.labels.task, "text_pair": p.text_pair, "labels": list(p.labels.names),
                "thresholds": p.thresholds,
                "decision_threshold": settings.decision.threshold if settings.decision else None,
                "max_length": p.max_length, "long_text": p.long_text,
                "backend": p.backend.name, "micro_batching": batching, "version": __version__}

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        if state["predictor"] is None:
            return _error(503, "loading" if state["error"] is None else f"failed: {state['error']}")
        return {"status": "ready"}

    @app.get("/metrics")
    async def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return resources.files("textclf.serving").joinpath("static/index.html").read_text(encoding="utf-8")

    app.state.textclf = state
    return app


def request_fields(req: PredictRequest) -> dict:
    """answer()'s arguments from a validated request; `parameters` (the Inference API's shape)
    override the top-level top_k and make the answer a list per input."""
    fields = {"inputs": req.inputs, "raw_scores": req.raw_scores, "top_k": req.top_k,
              "truncate": req.truncate, "truncation_direction": req.truncation_direction}
    if req.parameters is not None:
        fields["nested"] = True
        fields["function_to_apply"] = req.parameters.function_to_apply
        if req.parameters.top_k is not None:
            fields["top_k"] = req.parameters.top_k
    return fields


def check_lengths(p, texts: list[str], pairs: list[str] | None) -> None:
    """422 for the first input longer than the model's max length (truncate=false)."""
    lengths = [len(x) for x in p.tokenizer(texts, pairs, truncation=False, verbose=False)["input_ids"]]
    too_long = [i for i, n in enumerate(lengths) if n > p.max_length]
    if too_long:
        raise ApiError(422, f"Input {too_long[0]} has {lengths[too_long[0]]} tokens, more than "
                            f"the model's max length {p.max_length}; send truncate=true.")


def keep_ends(p, texts: list[str]) -> list[str]:
    """Texts too long for the model cut from the left: each keeps the whole words at its end that
    fit in max_length tokens, so the tokenizer's usual right truncation then cuts nothing."""
    from textclf.data.features import cut_tokens

    room = p.max_length - p.tokenizer.num_special_tokens_to_add(pair=False)
    return [t if t.strip() else text[-1:]   # one word longer than the model: its last character
            for t, text in zip(cut_tokens(p.tokenizer, texts, room, keep="end"), texts)]


def _scores(p, rows: Scored, how: str | None, texts, pairs) -> np.ndarray:
    """The model's probabilities (how=None; an ensemble's where the model carries one), the
    fine-tuned model's logits ('none'), or softmax/sigmoid of its temperature-scaled logits."""
    if how is None:
        return p.finish(p.to_probs(rows.logits), texts, pairs, tfidf_probs=rows.tfidf_probs)
    return rows.logits if how == "none" else p.to_probs(rows.logits, how)


def batch_predictors(p, workers: int = 0) -> list:
    """The Predictors the micro-batcher runs, one worker thread each. An ONNX model on a machine
    of several cores gets one replica per core (0: automatic), each on a single-threaded session,
    so one batch runs while the next collects; PyTorch, or workers=1, one Predictor on all cores.
    TEXTCLF_ORT_SPIN=0 (one worker): onnxruntime's threads sleep between calls."""
    onnx = isinstance(p.backend, OnnxBackend)
    workers = workers or (cpu_threads() if onnx else 1)
    if workers == 1 or not onnx:
        if os.environ.get("TEXTCLF_ORT_SPIN") == "0":   # shared, busy machines: see backends.sleeping
            p.backend = sleeping(p.backend)
        return [p]
    shared = single_threaded(p.backend)
    p.backend = shared
    return [p] + [p.replica(shared) for _ in range(workers - 1)]


def _labels(p, row: np.ndarray, top_k: int | None, thresholds=None) -> list[dict]:
    """Labels best first; with multi-label thresholds each says whether it is selected."""
    order = np.argsort(-row)[:top_k] if top_k else np.argsort(-row)
    out = [{"label": p.labels.names[j], "score": float(row[j])} for j in order]
    if thresholds is not None:
        for item, j in zip(out, order):
            item["selected"] = bool(row[j] >= thresholds[j])
    return out


def _authorized(headers: dict[str, str], key: str) -> bool:
    given = headers.get("x-api-key") or ""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return hmac.compare_digest(given.encode(), key.encode())


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` / several workers: settings from TEXTCLF_* variables."""
    from textclf.inference.predictor import Predictor

    model = os.environ["TEXTCLF_MODEL"]
    backend = os.environ.get("TEXTCLF_BACKEND", "auto")
    return create_app(lambda: Predictor.load(model, backend=backend),
                      api_key=os.environ.get("TEXTCLF_API_KEY") or None,
                      batching=os.environ.get("TEXTCLF_BATCHING", "1") != "0",
                      max_wait_ms=float(os.environ.get("TEXTCLF_MAX_WAIT_MS", "0")),
                      model_workers=int(os.environ.get("TEXTCLF_MODEL_WORKERS", "0")))
