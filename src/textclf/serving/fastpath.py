"""POST /predict without the framework: the common, valid request is answered straight from the
ASGI middleware (the body read once, parsed with json, checked by hand), skipping routing, the
dependency machinery and pydantic validation, which cost more per request than a small model's
share of a batched forward pass. Anything else (pairs, a field of the wrong type, malformed
JSON ...) goes on to the FastAPI route with the same body, so error answers stay the route's.
"""
from __future__ import annotations

import json

FIELDS = frozenset(("inputs", "raw_scores", "top_k", "truncate", "parameters"))
PARAMETERS = frozenset(("top_k", "function_to_apply"))
FUNCTIONS = (None, "sigmoid", "softmax", "none")


def plain_request(body: bytes) -> dict | None:
    """The fields of a valid request whose inputs are a text or a list of texts; None when the
    full route should handle (and explain) the body."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or "inputs" not in obj or not obj.keys() <= FIELDS:
        return None
    inputs = obj["inputs"]
    if not isinstance(inputs, str) and not (isinstance(inputs, list) and inputs
                                            and all(isinstance(x, str) for x in inputs)):
        return None
    raw, truncate, top_k = obj.get("raw_scores", False), obj.get("truncate", True), obj.get("top_k")
    if type(raw) is not bool or type(truncate) is not bool:
        return None
    if not _top_k_ok(top_k):
        return None
    out = {"inputs": inputs, "raw_scores": raw, "top_k": top_k, "truncate": truncate}
    if "parameters" in obj:
        params = obj["parameters"]
        if not isinstance(params, dict) or not params.keys() <= PARAMETERS:
            return None
        how, k = params.get("function_to_apply"), params.get("top_k")
        if how not in FUNCTIONS or not _top_k_ok(k):
            return None
        out.update(nested=True, function_to_apply=how, top_k=k if k is not None else top_k)
    return out


def _top_k_ok(top_k) -> bool:
    return top_k is None or (type(top_k) is int and top_k >= 1)


async def read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None when it grows past `limit` bytes."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def replay(body: bytes, receive):
    """An ASGI receive that hands the already-read body over again, then defers to `receive`."""
    sent = False

    async def again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return again


def dumps(obj) -> bytes:
    """JSON as the route's JSONResponse writes it."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
