"""environment.json: the machine, the library versions and the base model's card metadata of a
run, recorded when it is trained (a report rebuilt later must not describe the machine it is
rebuilt on)."""
from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

FILE = "environment.json"
LIBRARIES = ("textclf", "torch", "transformers", "tokenizers", "accelerate", "datasets",
             "scikit-learn", "numpy", "scipy", "onnxruntime", "huggingface-hub", "matplotlib")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        return None


def hardware() -> dict:
    import torch

    hw = {"cpu": cpu_name(), "cpu_cores": os.cpu_count(),
          "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
          "torch_threads": torch.get_num_threads(), "memory_gb": memory_gb(),
          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
          "os": platform.platform(terse=True), "python": platform.python_version()}
    return hw


def versions() -> dict:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def base_model_info(name: str) -> dict:
    """The base model's hub id (where known), language and licence, from its own model card."""
    from textclf.models.base import DEFAULT_HUB_ID, resolve

    info: dict = {"name": name, "hub_id": None, "language": None, "license": None}
    try:
        where = resolve(name)
    except Exception:   # a base that cannot be resolved now still trained; record what is known
        return info
    if name == "default":
        info["hub_id"] = DEFAULT_HUB_ID
    elif not Path(where).exists():
        info["hub_id"] = where
    card = Path(where) / "README.md"
    if card.is_file():
        from huggingface_hub.repocard import metadata_load
        meta = metadata_load(card) or {}
        info["language"] = meta.get("language")
        info["license"] = meta.get("license")
    return info


def environment(base_model: str) -> dict:
    return {"hardware": hardware(), "libraries": versions(), "base_model": base_model_info(base_model)}
