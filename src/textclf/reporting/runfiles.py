"""A finished run dir, read back: metrics, config, training log, test predictions, environment.

Everything the report and the model card show comes from here, so both can be rebuilt from the
run dir alone.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from textclf import runs
from textclf.errors import TextclfError
from textclf.reporting.environment import FILE as ENVIRONMENT

MODEL_PREDICTIONS = "test_predictions_model.csv"   # the fine-tuned model alone, where an ensemble is used
PROB_FLOOR = 5e-7   # half the rounding unit of test_predictions.csv (6 decimals)


@dataclass
class RunFiles:
    path: Path
    name: str
    metrics: dict
    config: dict
    log: list[dict] = field(default_factory=list)
    environment: dict | None = None
    model_config: dict = field(default_factory=dict)
    export: dict | None = None   # model/onnx/export.json, once `textclf export` has run

    @property
    def test(self) -> dict:
        return self.metrics["test"]

    @property
    def names(self) -> list[str]:
        return list(self.test["per_class"])

    @property
    def multi_label(self) -> bool:
        return self.test["task"] == "multilabel"

    @property
    def textclf_config(self) -> dict:
        return self.model_config.get("textclf") or {}

    @cached_property
    def predictions(self):
        """test_predictions.csv as a DataFrame (labels and texts kept as written), or None."""
        import pandas as pd

        p = self.path / "test_predictions.csv"
        if not p.is_file():
            return None
        return pd.read_csv(p, keep_default_na=False, dtype={"text": str, "text_pair": str,
                                                          "true_label": str, "label": str,
                                                          "labels": str})

    @cached_property
    def model_predictions(self):
        """The fine-tuned model's own test predictions: test_predictions_model.csv where the run
        combined it with the TF-IDF model (an ensemble), else test_predictions.csv."""
        import pandas as pd

        p = self.path / MODEL_PREDICTIONS if self.path is not None else None
        if p is None or not p.is_file():
            return self.predictions
        return pd.read_csv(p, keep_default_na=False, dtype={"text": str, "text_pair": str,
                                                          "true_label": str})

    @cached_property
    def label_issues(self):
        """label_issues.csv (rows of validation and test whose label looks wrong) as a
        DataFrame, or None where the run has none."""
        import pandas as pd

        p = self.path / "label_issues.csv"
        if not p.is_file():
            return None
        return pd.read_csv(p, keep_default_na=False, dtype={"text": str, "text_pair": str,
                                                          "given": str, "suggested": str})

    @cached_property
    def split_files(self) -> dict[str, str]:
        """Each split's source file, from splits.json."""
        splits = _json(self.path / "splits.json") or {}
        return {k: v.get("file") for k, v in splits.items() if isinstance(v, dict)}

    @property
    def has_truth(self) -> bool:
        return self.predictions is not None and "true_label" in self.predictions.columns

    def probs(self) -> np.ndarray:
        """The saved test probabilities: calibrated, and for binary tasks with a tuned decision
        threshold, shifted so that argmax decides at it (as the saved model outputs them)."""
        df = self.predictions
        return df[[f"prob_{n}" for n in self.names]].to_numpy(dtype=np.float64)

    def model_probs(self) -> np.ndarray:
        """The fine-tuned model's saved test probabilities (calibrated; see probs)."""
        df = self.model_predictions
        return df[[f"prob_{n}" for n in self.names]].to_numpy(dtype=np.float64)

    def y_true(self) -> np.ndarray:
        """Label ids (single-label) or a 0/1 matrix (multi-label) of the test split."""
        index = {n: i for i, n in enumerate(self.names)}
        truth = self.predictions["true_label"].tolist()
        if self.multi_label:
            y = np.zeros((len(truth), len(self.names)), dtype=int)
            for r, value in enumerate(truth):
                for lab in filter(None, value.split(",")):
                    y[r, index[lab]] = 1
            return y
        return np.array([index[v] for v in truth])

    def logit_offset(self) -> np.ndarray:
        """Per label: what was added to the calibrated logits after temperature scaling (the
        tuned decision threshold's shift; multi-label: the positive weights' offsets)."""
        off = np.zeros(len(self.names))
        d = self.metrics.get("decision") or {}
        if d.get("applied"):
            off[self.names.index(d["label"])] = d["logit_offset"]
        taken_back = (self.metrics.get("calibration") or {}).get("label_offsets")
        if taken_back:
            off += np.asarray(taken_back["offsets"], dtype=float)
        return off

    def _scaled_logits(self) -> np.ndarray:
        """The temperature-scaled test logits before those offsets (softmax: up to a constant)."""
        p = np.clip(self.model_probs(), PROB_FLOOR, 1 - PROB_FLOOR)
        z = np.log(p / (1 - p)) if self.multi_label else np.log(p)
        return z - self.logit_offset()

    def calibrated_probs(self) -> np.ndarray:
        """The fine-tuned model's temperature-scaled test probabilities before any offset."""
        z = self._scaled_logits()
        return 1 / (1 + np.exp(-z)) if self.multi_label else _softmax(z)

    def uncalibrated_probs(self) -> np.ndarray:
        """The test probabilities before temperature scaling: p = softmax(z / T) gives
        z = T log p + c, so softmax(T log p) = softmax(z) (sigmoid(T logit p) for multi-label)."""
        z = self.metrics["calibration"]["temperature"] * self._scaled_logits()
        return 1 / (1 + np.exp(-z)) if self.multi_label else _softmax(z)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _json(path: Path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TextclfError(f"{path} is not valid JSON ({exc}); the run dir is damaged.") from None


def load_run(run_dir: str | Path, name: str | None = None) -> RunFiles:
    """Read a finished run dir; TextclfError (one sentence) when it is not one."""
    import yaml

    path = Path(run_dir)
    if not (path / "metrics.json").is_file() or not (path / "config.yaml").is_file():
        raise TextclfError(f"{run_dir} is not a finished textclf run dir (it needs metrics.json and "
                           "config.yaml, written at the end of `textclf train`).")
    log = []
    if (path / "train_log.jsonl").is_file():
        log = [json.loads(line) for line in
               (path / "train_log.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    return RunFiles(path=path, name=name or path.resolve().name, metrics=_json(path / "metrics.json"),
                    config=yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")),
                    log=log, environment=_json(path / ENVIRONMENT),
                    model_config=_json(path / runs.MODEL_DIR / "config.json") or {},
                    export=_json(path / runs.MODEL_DIR / "onnx" / "export.json"))


def export_table(run: RunFiles) -> tuple[list[str], list[list], list[str]] | None:
    """The exported models side by side (bytes, ratio to model.safetensors, ms/text, the test
    primary metric and its difference to torch in points) and notes on the compressed one; None
    before `textclf export`."""
    e = run.export
    if not e or "bytes" not in e:
        return None
    primary = run.test.get("primary_metric", "macro_f1")
    c = e.get("compressed") or {}
    torch_scores = c.get("test_torch") or e.get("test_fp32") or {}
    key = primary if primary in torch_scores else "macro_f1"
    ms = (c.get("speed") or {}).get("ms_per_text", {})
    size = e["bytes"]
    st = size["safetensors"]
    rows = []

    def row(name, nbytes, scores, speed=None):
        value = scores.get(key) if scores else None
        delta = (f"{100 * (value - torch_scores[key]):+.2f}" if value is not None and key in torch_scores
                 else "")
        rows.append([name, f"{nbytes / 1e6:.1f}", f"{st / nbytes:.2f}x",
                     f"{speed:.2f}" if speed else "", f"{value:.4f}" if value is not None else "", delta])
    row("torch (model.safetensors)", st, torch_scores)
    row("ONNX fp32", size["onnx_fp32"], e.get("test_fp32"))
    if "onnx_int8" in size:
        row("ONNX int8", size["onnx_int8"], e.get("test_int8"), ms.get("int8"))
    if c:
        row("compressed (pruned vocabulary, 4-bit embeddings, int8 weights)", c["bytes"], c.get("test"),
            ms.get("compressed"))
    head = ["model", "MB", "smaller than safetensors", "ms/text", f"test {key}", "vs torch (points)"]
    notes = []
    if c:
        v = c["vocabulary"]
        notes.append(f"Vocabulary {v['kept']:,} of {v['of']:,} tokens: {v['rule']}.")
        u = c.get("test_unknown")
        if u:
            notes.append(f"On the test split the pruned tokenizer gives {100 * u['token_count_change']:+.1f}% "
                         f"tokens; unknown tokens {100 * u['unknown_share_full']:.3f}% with the full "
                         f"vocabulary, {100 * u['unknown_share_pruned']:.3f}% after pruning.")
        if "speed" in c:
            notes.append(f"ms/text: {c['speed']['texts']} test texts, median of {c['speed']['rounds']} "
                         "alternating passes, measured at export on the exporting machine.")
    return head, rows, notes
