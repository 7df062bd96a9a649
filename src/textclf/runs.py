"""The run directory: its layout, and writing it so an interrupted run never looks finished.

A training run is built in a hidden sibling dir (`.<name>.partial`, see `partial_dir`) that also
holds its checkpoints, and renamed into place only when complete; an interrupted run stays there
for `--resume`. Other outputs (an ONNX export) are built in `.<name>.partial-<pid>` and deleted
when interrupted. With overwrite, the old output is moved aside first and deleted after the rename.
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


def partial_dir(final: str | Path) -> Path:
    """Where the training run for `final` is built, and where an interrupted one waits."""
    final = Path(final)
    return final.parent / f".{final.name}.partial"


def begin(output: str | Path, *, overwrite: bool = False, resume: bool = False) -> tuple[Path, Path]:
    """(final run dir, its partial dir), after checking the run may start; creates nothing."""
    final = Path(output)
    work = partial_dir(final)
    if final.exists() and not overwrite:
        raise OutputExistsError(f"{final} already exists{' and is complete' if resume else ''}; "
                                "pass --overwrite to replace it or choose another --output.")
    if work.exists() and not (resume or overwrite):
        raise OutputExistsError(f"An interrupted run of {final} is in {work}; pass --resume to "
                                "continue it or --overwrite to start over.")
    return final, work


def open_partial(work: Path, *, resume: bool) -> None:
    """Create the partial dir; without `resume`, whatever an earlier run left there goes."""
    if not resume and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)


def finish(work: Path, final: Path) -> None:
    """Rename a complete partial dir into place (an old run at `final` is replaced)."""
    _replace(work, final)


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
    _replace(tmp, final)


def _replace(tmp: Path, final: Path) -> None:
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


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


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
