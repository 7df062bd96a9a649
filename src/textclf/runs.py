"""The run directory: its layout, and writing it so an interrupted run never looks finished.

A run is built in a hidden sibling temp dir (`.<name>.partial-<pid>`) and renamed into place only
when complete. With overwrite, the old run is moved aside first and deleted after the rename.
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from textclf.errors import OutputExistsError

MODEL_DIR = "model"
FILES = ("config.yaml", "metrics.json", "report.md", "test_predictions.csv", "splits.json",
         "train_log.jsonl")


def check_output(path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it or choose "
                                "another --output.")
    return path


@contextmanager
def atomic_dir(final: str | Path, overwrite: bool = False):
    """Yield a temp dir next to `final`; on success rename it to `final`, on failure delete it."""
    final = check_output(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()


def atomic_write(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: str | Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def model_dir_of(path: str | Path) -> Path:
    """The model dir for a run dir (its model/) or a model dir; ModelError if neither."""
    from textclf.errors import ModelError

    p = Path(path)
    if (p / MODEL_DIR / "config.json").exists():
        p = p / MODEL_DIR
    if not (p / "config.json").exists():
        raise ModelError(f"{path} is not a textclf model dir or run dir (no config.json).")
    return p


def is_run(path: str | Path) -> bool:
    p = Path(path)
    return (p / MODEL_DIR / "config.json").exists() and (p / "metrics.json").exists()
