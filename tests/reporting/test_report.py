"""report.html and the model card, built from a run dir of the tiny model (binary and
multi-label), rebuilt by `textclf report`, and legible with 77 classes."""
import base64
import io
import json
import re
import shutil

import numpy as np
import pytest

from chromium import ARTIFACTS, chromium_page, needs_chromium
from conftest import train_tiny_multilabel, train_tiny_sms
from test_cli import run_cli
from textclf.evaluation.calibration import expected_calibration_error
from textclf.reporting import plots
from textclf.reporting.card import card_metrics
from textclf.reporting.html import mistakes
from textclf.reporting.runfiles import load_run

SECTIONS = ("summary", "test", "classes", "confusion", "curves", "thresholds", "calibration",
            "mistakes", "issues", "training", "data", "setup")


@pytest.fixture(scope="module")
def sms_run(tiny_model_dir, tmp_path_factory):
    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("report"))
    return run


@pytest.fixture(scope="module")
def multilabel_run(tiny_model_dir, tmp_path_factory):
    return train_tiny_multilabel(tiny_model_dir, tmp_path_factory.mktemp("report-ml"))[0]


def images(html: str) -> list[bytes]:
    return [base64.b64decode(s) for s in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


@pytest.mark.parametrize("which", ["sms_run", "multilabel_run"])
def test_report_is_self_contained_with_every_section(which, request):
    from PIL import Image

    run = request.getfixturevalue(which)
    html = (run.path / "report.html").read_text(encoding="utf-8")
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html, anchor
    pngs = images(html)
    assert len(pngs) >= 7   # confusion/per-label sweep, curves, calibration, training, labels, lengths
    for png in pngs:
        w, h = Image.open(io.BytesIO(png)).size
        assert w > 300 and h > 150
    # nothing loaded from elsewhere: no scripts, no http(s) sources or stylesheets
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html
    env = json.loads((run.path / "environment.json").read_text())
    assert env["libraries"]["torch"].startswith("2.13")
    assert env["hardware"]["cpu_cores"] >= 1


def test_report_names_the_baseline_and_the_paired_test(sms_run):
    html = (sms_run.path / "report.html").read_text(encoding="utf-8")
    m = json.loads((sms_run.path / "metrics.json").read_text())
    assert "TF-IDF + LR" in html and "McNemar" in html
    assert f"<td>{m['comparison']['model_only_right']}</td>" in html.replace(' class="n"', "")
    assert f"{m['test']['f1_positive']:.4f}" in html


def test_textclf_report_rebuilds_the_same_files_from_the_run_dir(sms_run, capsys, monkeypatch):
    html = sms_run.path / "report.html"
    card = sms_run.model_dir / "README.md"
    before = html.read_bytes(), card.read_bytes()
    html.unlink()
    card.unlink()
    code, out, _ = run_cli(["report", str(sms_run.path)], capsys, monkeypatch)
    assert code == 0 and "report.html" in out
    assert (html.read_bytes(), card.read_bytes()) == before


def test_report_on_a_dir_that_is_no_run_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["report", str(tmp_path)], capsys, monkeypatch)
    assert code == 2
    assert "not a finished textclf run dir" in err and "Traceback" not in err


@pytest.mark.parametrize("which", ["sms_run", "multilabel_run"])
def test_probabilities_before_temperature_scaling_are_recovered(which, request):
    """softmax(T log p) of the saved calibrated probabilities reproduces the ECE measured on the
    raw logits at training time (and the calibrated ones the 'after' figure)."""
    run = load_run(request.getfixturevalue(which).path)
    y, cal = run.y_true(), run.metrics["calibration"]
    assert expected_calibration_error(run.uncalibrated_probs(), y, run.multi_label) == \
        pytest.approx(cal["ece_test_before"], abs=2e-4)
    assert expected_calibration_error(run.calibrated_probs(), y, run.multi_label) == \
        pytest.approx(cal["ece_test_after"], abs=2e-4)


def test_binary_calibrated_probabilities_undo_the_decision_shift():
    from textclf.reporting.runfiles import RunFiles
    import pandas as pd

    z = np.array([[0.0, -1.0], [0.0, 0.5], [0.0, 2.0]])
    shifted = z + np.array([0.0, 0.7])
    p = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    run = RunFiles(path=None, name="x", config={}, metrics={
        "test": {"task": "binary", "per_class": {"ham": {}, "spam": {}}},
        "calibration": {"temperature": 2.0},
        "decision": {"applied": True, "label": "spam", "logit_offset": 0.7}})
    run.__dict__["predictions"] = pd.DataFrame({"prob_ham": p[:, 0], "prob_spam": p[:, 1]})
    want = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert np.allclose(run.calibrated_probs(), want, atol=1e-9)
    raw = np.exp(2 * z) / np.exp(2 * z).sum(1, keepdims=True)
    assert np.allclose(run.uncalibrated_probs(), raw, atol=1e-9)


def test_mistakes_are_wrong_and_most_confident_first(sms_run):
    run = load_run(sms_run.path)
    head, rows = mistakes(run)
    assert head[:4] == ["text", "true", "predicted", "score"]
    assert rows and len(rows) <= 20
    assert all(r[1] != r[2] for r in rows)
    scores = [float(r[3]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    preds = run.predictions
    wrong = preds[preds["label"] != preds["true_label"]]
    assert len(rows) == min(20, len(wrong))
    assert float(rows[0][3]) == pytest.approx(wrong["score"].max(), abs=1e-4)


@pytest.mark.parametrize("which", ["sms_run", "multilabel_run"])
def test_model_card_metadata_parses_and_matches_metrics_json(which, request):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard import metadata_load

    run = request.getfixturevalue(which)
    m = json.loads((run.path / "metrics.json").read_text())["test"]
    card = ModelCard.load(run.model_dir / "README.md")
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.license and "textclf" in card.data.tags
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == card_metrics(m)
    keys = (["micro_f1", "macro_f1", "weighted_f1", "samples_f1", "subset_accuracy", "hamming_loss"]
            if m["task"] == "multilabel" else
            ["f1_positive", "accuracy", "macro_f1", "weighted_f1", "mcc"])
    keys += [k for k in ("roc_auc", "pr_auc") if k in m]
    assert sorted(got.values()) == sorted(float(m[k]) for k in keys)
    if m["task"] == "binary":
        assert got["F1 (spam)"] == m["f1_positive"]
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}
    assert metadata_load(run.model_dir / "README.md")["model-index"][0]["name"] == "run"
    for heading in ("## Intended use", "## Training data", "## Evaluation", "## Limitations",
                    "## How to use", "pipeline(", "textclf.load("):
        assert heading in card.content
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert "baseline" in metrics and "| metric | textclf | TF-IDF + LR |" in card.content
    # freeze auto became "none" on this small single-label set, "embeddings" on the multi-label
    # one; the card shows what trained, not "auto"
    frozen = "embeddings" if m["task"] == "multilabel" else "none"
    assert metrics["training"]["freeze"] == frozen and f"| freeze | {frozen} |" in card.content
    assert f"| learning_rate | {metrics['training']['learning_rate']} |" in card.content


def test_card_of_the_default_model_names_its_hub_id_and_language():
    from textclf.reporting.environment import base_model_info

    info = base_model_info("default")
    assert info["hub_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["language"] == "en"


# --- legibility with many classes -------------------------------------------------------------

NAMES_77 = [f"{w}_{i:02d}" for i, w in enumerate(
    ["card_payment_wrong_exchange_rate", "lost_or_stolen_card", "top_up", "refund_not_showing_up",
     "verify_source_of_funds", "declined_cash_withdrawal", "age_limit"] * 11)]


def _overlaps(labels, renderer, axis: str) -> int:
    boxes = sorted((t.get_window_extent(renderer) for t in labels if t.get_text()),
                   key=lambda b: b.y0 if axis == "y" else b.x0)
    return sum(1 for a, b in zip(boxes, boxes[1:])
               if (b.y0 < a.y1 - 0.5 if axis == "y" else b.x0 < a.x1 - 0.5))


def test_77_class_confusion_matrix_and_label_chart_have_no_overlapping_tick_labels():
    rng = np.random.default_rng(0)
    cm = np.diag(rng.integers(20, 40, 77)) + rng.integers(0, 3, (77, 77)) * (rng.random((77, 77)) < 0.05)
    figs = [f for _, f in plots.confusion_figures(cm, NAMES_77)]
    counts = {n: int(v) for n, v in zip(NAMES_77, rng.integers(30, 200, 77))}
    figs.append(plots.label_distribution_figure({"train": counts, "test": counts},
                                                {"train": sum(counts.values()), "test": sum(counts.values())}))
    assert len(figs) == 3   # the full matrix, the most-confused zoom, the label chart
    for fig in figs:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        assert len([t for t in ax.get_yticklabels() if t.get_text()]) in (15, 77)
        assert _overlaps(ax.get_yticklabels(), renderer, "y") == 0
        if ax.images:   # the matrices label both axes
            assert _overlaps(ax.get_xticklabels(), renderer, "x") == 0
        fig_box = fig.bbox
        named = ax.get_yticklabels() + (ax.get_xticklabels() if ax.images else [])
        for t in named:
            if t.get_text():   # no class name cut off at the figure's edge
                b = t.get_window_extent(renderer)
                assert b.x0 >= -1 and b.y0 >= -1 and b.x1 <= fig_box.x1 + 1 and b.y1 <= fig_box.y1 + 1


def test_confused_pairs_are_the_largest_off_diagonal_cells():
    cm = np.array([[5, 3, 0], [1, 7, 4], [0, 0, 9]])
    assert plots.confused_pairs(cm, ["a", "b", "c"], k=2) == [("b", "c", 4), ("a", "b", 3)]


# --- in a real browser ------------------------------------------------------------------------


@needs_chromium
@pytest.mark.parametrize("which", ["sms_run", "multilabel_run"])
def test_report_renders_in_chromium_with_every_figure_loaded(which, request):
    run = request.getfixturevalue(which)
    shot = ARTIFACTS / f"report_{which}.png"
    fetched = []
    with chromium_page(viewport={"width": 1300, "height": 900}) as page:
        page.on("request", lambda r: fetched.append(r.url))
        page.goto((run.path / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        sizes = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
                              "i.naturalHeight, i.getBoundingClientRect().width])")
        assert len(sizes) >= 7
        for complete, w, h, shown in sizes:
            assert complete and w > 300 and h > 150 and shown > 200   # none broken or collapsed
        assert page.locator("#classes table tbody tr").count() == len(load_run(run.path).names)
        assert page.locator("#mistakes table tbody tr").count() >= 1
        assert page.locator("#setup table").count() >= 3   # hyperparameters, hardware, libraries
        assert page.locator("nav a").count() == page.locator("section").count()
        page.screenshot(path=str(shot), full_page=True)
    assert [u for u in fetched if not u.startswith(("data:", "file:"))] == []   # opens offline
    assert shot.stat().st_size > 20_000


def test_a_report_that_fails_to_render_does_not_lose_the_trained_run(tiny_model_dir, tmp_path,
                                                                     monkeypatch):
    import textclf.reporting as reporting

    said = []

    def broken(run_dir, name=None):
        raise ValueError("no figure today")
    monkeypatch.setattr(reporting, "write_reports", broken)
    monkeypatch.setattr("textclf.api.finish_run",
                        lambda d, final=None, say=None: reporting.finish_run(d, final, said.append))
    run, _ = train_tiny_sms(tiny_model_dir, tmp_path)
    assert (run.path / "metrics.json").is_file() and (run.model_dir / "model.safetensors").is_file()
    assert (run.path / "environment.json").is_file()
    assert not (run.path / "report.html").exists()
    assert len(said) == 1 and "no figure today" in said[0] and f"textclf report {run.path}" in said[0]


def test_a_merged_label_variant_is_not_reported_as_still_to_merge():
    from textclf.data.checks import warnings
    from textclf.data.prepare import MERGED_VARIANTS

    report = {"label_variants": {"spam": ["Spam", "spam"]}, "conflicting_duplicates": [],
              "dropped": {}, "notes": []}
    assert any("--normalize-labels" in w for w in warnings(report))
    report["notes"] = [MERGED_VARIANTS + "Spam/spam"]
    assert not any("--normalize-labels" in w for w in warnings(report))


def test_balanced_binary_run_chosen_by_macro_f1_has_curves_and_the_sweep(tiny_model_dir, tmp_path):
    import csv

    from conftest import make_rows
    import textclf
    from textclf.config import DataConfig, TrainConfig

    p = tmp_path / "pets.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["label", "text"])
        w.writerows((("cat" if lab == "ham" else "dog"), text) for lab, text in make_rows(45, 45))
    cfg = TrainConfig(data=DataConfig(train=str(p)), model=str(tiny_model_dir), output=str(tmp_path / "run"),
                      epochs=1, batch_size=8, learning_rate=5e-4, max_length=32, early_stopping_patience=0)
    run = textclf.train(cfg, quiet=True)
    m = json.loads((run.path / "metrics.json").read_text())["test"]
    assert m["task"] == "binary" and m["primary_metric"] == "macro_f1"
    html = (run.path / "report.html").read_text(encoding="utf-8")
    assert '<section id="thresholds">' in html and '<section id="curves">' in html
    assert f"Precision, recall and F1 of &#x27;{m['positive_label']}&#x27;" in html


@pytest.mark.parametrize("which", ["sms_run", "multilabel_run"])
def test_the_cards_code_runs_against_the_saved_model(which, request, capsys):
    """Both snippets of 'How to use', with the repo id / path swapped for the local model dir."""
    run = request.getfixturevalue(which)
    card = (run.model_dir / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    assert len(blocks) == 2
    for code in blocks:
        exec(code.replace("USER/NAME", str(run.model_dir)).replace("path/to/model", str(run.model_dir)), {})
    printed = capsys.readouterr().out
    assert printed.count("label") >= 2 and "score" in printed


def test_sentence_pair_mistakes_show_both_texts(tiny_config, tmp_path):
    import pandas as pd

    import textclf

    rows = [{"premise": f"a man plays guitar {i}", "hypothesis": ("a man plays music" if i % 3 else
             "nobody plays"), "label": "entailment" if i % 2 else "contradiction"} for i in range(80)]
    p = tmp_path / "nli.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    run = textclf.train(tiny_config(p, epochs=1), quiet=True)
    _, found = mistakes(load_run(run.path))
    assert found and all(" ‖ " in r[0] for r in found)
    assert (run.path / "report.html").is_file()


def test_a_run_from_before_reports_existed_still_gets_both(sms_run, tmp_path, capsys, monkeypatch):
    """No environment.json, no token-length histogram, no report.html: `textclf report` fills in
    what it can and says what is missing."""
    old = tmp_path / "old-run"
    shutil.copytree(sms_run.path, old)
    (old / "environment.json").unlink()
    (old / "report.html").unlink()
    metrics = json.loads((old / "metrics.json").read_text())
    del metrics["data"]["token_length_histogram"]
    (old / "metrics.json").write_text(json.dumps(metrics))
    code, _, _ = run_cli(["report", str(old)], capsys, monkeypatch)
    assert code == 0
    html = (old / "report.html").read_text(encoding="utf-8")
    assert "no environment.json" in html and "token lengths" not in html
    assert "## Evaluation" in (old / "model" / "README.md").read_text(encoding="utf-8")


# --- label issues -----------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["sms_run", "multilabel_run"])
def test_the_run_lists_label_issues_of_its_validation_and_test_rows(which, request):
    import pandas as pd

    run = request.getfixturevalue(which)
    info = json.loads((run.path / "metrics.json").read_text())["label_issues"]
    splits = json.loads((run.path / "splits.json").read_text())
    assert info["splits"] == ["validation", "test"]
    assert info["rows_examined"] == len(splits["validation"]["rows"]) + len(splits["test"]["rows"])
    df = pd.read_csv(run.path / "label_issues.csv", keep_default_na=False)
    assert list(df.columns)[:7] == ["split", "row", "file", "given", "suggested", "score", "issue"]
    assert len(df) == info["flagged"]
    for r in df.itertuples():   # each flagged row is a row of the split it names
        assert r.row in splits[r.split]["rows"]
    html = (run.path / "report.html").read_text(encoding="utf-8")
    section = html.split('<section id="issues">')[1].split("</section>")[0]
    assert f"{info['rows_examined']:,} validation and test rows" in section
    assert section.count("<tr>") == (min(len(df), 20) + 1 if len(df) else 0)


def _with_issues(run, tmp_path):
    """A copy of `run` whose label_issues.csv flags three of its test rows (given label swapped)."""
    import pandas as pd

    from textclf.reporting import write_reports

    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    preds = pd.read_csv(copy / "test_predictions.csv", keep_default_na=False)
    rows = json.loads((copy / "splits.json").read_text())["test"]["rows"]
    other = {"ham": "spam", "spam": "ham"}
    table = pd.DataFrame({"split": "test", "row": rows[:3], "file": "sms.csv",
                          "given": [other[v] for v in preds["true_label"][:3]],
                          "suggested": list(preds["true_label"][:3]), "score": [0.97, 0.9, 0.8],
                          "issue": ["label", "label", "label; conflicting duplicate"],
                          "text": list(preds["text"][:3])})
    table.to_csv(copy / "label_issues.csv", index=False)
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["label_issues"].update(flagged=3, label=3, conflicting_duplicate=1)
    (copy / "metrics.json").write_text(json.dumps(metrics))
    write_reports(copy)
    return copy, table


@needs_chromium
def test_label_issues_section_renders_in_chromium(sms_run, tmp_path):
    copy, table = _with_issues(sms_run, tmp_path)
    with chromium_page(viewport={"width": 1300, "height": 900}) as page:
        page.goto((copy / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        assert page.locator('nav a[href="#issues"]').inner_text() == "Label issues"
        cells = page.locator("#issues table tbody tr")
        assert cells.count() == 3
        for i, r in enumerate(table.itertuples()):
            tds = cells.nth(i).locator("td").all_inner_texts()
            assert tds[:6] == ["test", str(r.row), r.given, r.suggested, f"{r.score:.4f}", r.issue]
            assert tds[6] == " ".join(r.text.split())
        assert "3 of the" in page.inner_text("#issues p")
        assert page.locator("#issues table").bounding_box()["height"] > 40   # rendered, not collapsed
        page.locator("#issues").screenshot(path=str(ARTIFACTS / "report_label_issues.png"))
    assert (ARTIFACTS / "report_label_issues.png").stat().st_size > 5000
