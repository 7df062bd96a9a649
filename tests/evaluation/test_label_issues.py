"""textclf data issues: flipped labels found first, conflicting duplicates, outliers, the CSV's
columns, multi-label and sentence pairs, and one sentence for bad input; train --drop-rows /
--relabel."""
import csv

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import EMOTIONS, make_rows, multilabel_frame
from test_cli import run_cli
from textclf.config import DataConfig
from textclf.data.prepare import prepare, read_files
from textclf.evaluation import label_issues as li

FLIPS = (3, 10, 42, 77)


def noisy_sms(path, n_ham=100, n_spam=50, flips=FLIPS, duplicate_of=5):
    """make_rows with the labels of `flips` swapped and one more row: row `duplicate_of`'s text
    labelled the other way (a conflicting duplicate)."""
    rows = make_rows(n_ham, n_spam)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["label", "message"])
        for i, (lab, text) in enumerate(rows):
            w.writerow([{"ham": "spam", "spam": "ham"}[lab] if i in flips else lab, text])
        lab, text = rows[duplicate_of]
        w.writerow([{"ham": "spam", "spam": "ham"}[lab], text])
    return path, rows


def test_flipped_rows_come_first_with_the_columns_in_order(tmp_path, capsys, monkeypatch):
    path, rows = noisy_sms(tmp_path / "sms.csv")
    out = tmp_path / "issues.csv"
    code, stdout, err = run_cli(["data", "issues", str(path), "--output", str(out)], capsys, monkeypatch)
    assert code == 0, err
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == ["row", "given", "suggested", "score", "issue", "text"]
    top = df.head(len(FLIPS) + 1)
    extra = len(rows)   # the appended duplicate's 0-based data row
    assert set(top["row"]) == set(FLIPS) | {extra}
    for r in top.itertuples():
        truth = rows[r.row][0] if r.row < len(rows) else rows[5][0]
        assert r.suggested == truth != r.given and "label" in r.issue
        assert r.text == (rows[r.row][1] if r.row < len(rows) else rows[5][1])
    assert df["score"].is_monotonic_decreasing and df["score"].between(0, 1).all()
    dup = df[df["issue"].str.contains("conflicting duplicate")]
    assert set(dup["row"]) == {5, extra}
    assert (df["issue"] == "outlier").sum() == 1   # 1% of 151 rows
    assert "Likely label issues" in stdout and "5 likely label errors" in stdout


def test_all_rows_writes_every_row_ranked(tmp_path, capsys, monkeypatch):
    path, rows = noisy_sms(tmp_path / "sms.csv")
    out = tmp_path / "all.csv"
    code, _, err = run_cli(["data", "issues", str(path), "-o", str(out), "--all-rows"], capsys, monkeypatch)
    assert code == 0, err
    df = pd.read_csv(out, keep_default_na=False)
    assert sorted(df["row"]) == list(range(len(rows) + 1))
    assert df["score"].is_monotonic_decreasing
    assert set(df.head(len(FLIPS))["row"]) <= set(FLIPS) | {len(rows)}
    assert (df["issue"] == "").sum() > 100


def test_rows_are_data_rows_of_each_file_with_valid_and_test_files(tmp_path, capsys, monkeypatch):
    rows = make_rows(100, 50)
    parts = {"train": rows[:100], "valid": rows[100:125], "test": rows[125:]}
    paths = {}
    for name, part in parts.items():
        part = list(part)
        if name == "valid":   # its row 2 flipped; a blank row 0 is dropped but still counted
            part[2] = ({"ham": "spam", "spam": "ham"}[part[2][0]], part[2][1])
            part.insert(0, ("ham", ""))
        paths[name] = tmp_path / f"{name}.csv"
        pd.DataFrame(part, columns=["label", "text"]).to_csv(paths[name], index=False)
    out = tmp_path / "issues.csv"
    code, _, err = run_cli(["data", "issues", str(paths["train"]), "--valid", str(paths["valid"]),
                            "--test", str(paths["test"]), "-o", str(out)], capsys, monkeypatch)
    assert code == 0, err
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns)[:2] == ["row", "file"]
    first = df.iloc[0]
    assert (first["file"], first["row"]) == (str(paths["valid"]), 3)
    assert first["text"] == parts["valid"][2][1]


def test_multi_label_rows_with_a_label_taken_away_are_flagged(tmp_path, capsys, monkeypatch):
    frame = multilabel_frame(300)
    wrong = [4, 50, 120]
    for i in wrong:   # every text names its labels; these rows lose one
        ids = frame.at[i, "labels"].split(",")
        extra = next(str(j) for j in range(4) if str(j) not in ids)
        frame.at[i, "labels"] = ",".join(sorted(ids + [extra]))
    path = tmp_path / "ml.csv"
    frame.to_csv(path, index=False)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(EMOTIONS))
    out = tmp_path / "issues.csv"
    code, _, err = run_cli(["data", "issues", str(path), "--label-names", str(names), "-o", str(out)],
                           capsys, monkeypatch)
    assert code == 0, err
    df = pd.read_csv(out, keep_default_na=False)
    top = df.head(len(wrong))
    assert set(top["row"]) == set(wrong)
    for r in top.itertuples():
        given, suggested = set(r.given.split(",")), set(r.suggested.split(","))
        assert suggested < given and set(given) <= set(EMOTIONS)


def test_sentence_pairs_keep_both_texts(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        same = i % 2 == 0
        a = f"the {rng.choice(['cat', 'dog', 'bird'])} sits {i}"
        rows.append({"premise": a, "hypothesis": a if same else f"a car drives fast {i}",
                     "label": "entailment" if same else "contradiction"})
    rows[7]["label"] = "entailment"   # a contradiction labelled entailment
    path = tmp_path / "pairs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = tmp_path / "issues.csv"
    code, _, err = run_cli(["data", "issues", str(path), "-o", str(out)], capsys, monkeypatch)
    assert code == 0, err
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == ["row", "given", "suggested", "score", "issue", "text", "text_pair"]
    first = df.iloc[0]
    assert first["row"] == 7 and first["suggested"] == "contradiction"
    assert first["text_pair"] == rows[7]["hypothesis"]


BAD = {
    "too small for the folds": ("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(4)),
                                [], "too few for 5-fold"),
    "a class with one row": ("text,label\n" + "".join(f"text {i},a\n" for i in range(10)) + "odd one,b\n",
                             [], "Class 'b' has 1 row"),
    "one fold": ("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(20)),
                 ["--folds", "1"], "at least 2 folds"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_sentence_and_exit_2(case, tmp_path, capsys, monkeypatch):
    content, flags, message = BAD[case]
    path = tmp_path / "d.csv"
    path.write_text(content)
    code, out, err = run_cli(["data", "issues", str(path), "-o", str(tmp_path / "i.csv"), *flags],
                             capsys, monkeypatch)
    assert code == 2
    assert message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "i.csv").exists()


def test_without_cleanlab_it_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_cleanlab(name, *args, **kwargs):
        if name.startswith("cleanlab"):
            raise ImportError(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_cleanlab)
    path, _ = noisy_sms(tmp_path / "sms.csv")
    code, _, err = run_cli(["data", "issues", str(path), "-o", str(tmp_path / "i.csv")], capsys, monkeypatch)
    assert code == 2
    assert "pip install 'textclf[issues]'" in err and len(err.strip().splitlines()) == 1


def test_an_existing_output_needs_overwrite(tmp_path, capsys, monkeypatch):
    path, _ = noisy_sms(tmp_path / "sms.csv")
    out = tmp_path / "issues.csv"
    out.write_text("keep me")
    code, _, err = run_cli(["data", "issues", str(path), "-o", str(out)], capsys, monkeypatch)
    assert code == 2 and "--overwrite" in err and out.read_text() == "keep me"


def test_folds_keep_normalised_duplicates_together_and_stratify(tmp_path):
    path, _ = noisy_sms(tmp_path / "sms.csv", flips=())
    pool = li.pool_of(read_files(DataConfig(train=str(path))).files)
    fold = li.fold_of(pool, 5)
    assert fold[5] == fold[-1]   # the same text twice
    for f in range(5):
        spam = np.mean([lab == "spam" for lab, g in zip(pool.labels, fold) if g == f])
        assert 0.2 < spam < 0.45


def test_oof_probabilities_come_from_the_model_fitted_without_the_rows_fold(tmp_path):
    from textclf.evaluation.baseline import classifier, predict_probs, tfidf_features

    path, _ = noisy_sms(tmp_path / "sms.csv")
    pool = li.pool_of(read_files(DataConfig(train=str(path))).files)
    fold = li.fold_of(pool, 5)
    probs, c = li.oof_tfidf(pool, fold)
    assert c in (1.0, 10.0, 100.0)
    assert probs.shape == (len(pool.texts), 2) and np.allclose(probs.sum(1), 1)
    for i in (3, 42):   # flipped rows: the held-out model disagrees with the given label
        train = np.flatnonzero(fold != fold[i])
        features = tfidf_features()
        x = features.fit_transform([pool.texts[j] for j in train])
        clf = classifier(c, pool.space).fit(x, pool.y[train])
        assert np.allclose(predict_probs(clf, features.transform([pool.texts[i]]), pool.space)[0], probs[i])
        assert probs[i, pool.y[i]] < 0.5


# ---- train --drop-rows / --relabel -----------------------------------------------------------

def test_drop_rows_and_relabel_keep_the_split_and_edit_the_rows(tmp_path):
    path, rows = noisy_sms(tmp_path / "sms.csv")
    plain = prepare(DataConfig(train=str(path)))
    edited = prepare(DataConfig(train=str(path), drop_rows=[3, 10], relabel={42: "ham", 77: "ham"}))
    for s in ("train", "validation", "test"):
        assert [r for r in plain.splits[s].rows if r not in (3, 10)] == edited.splits[s].rows
    label = {r: lab for sp in edited.splits.values() for r, lab in zip(sp.rows, sp.labels)}
    assert label[42] == "ham" and label[77] == "ham"
    assert any("dropped 2 and relabelled 2 rows" in n for n in edited.notes)


def test_train_records_the_decisions_in_config_yaml(tiny_model_dir, tmp_path, capsys, monkeypatch):
    path, _ = noisy_sms(tmp_path / "sms.csv")
    drops = tmp_path / "drop.csv"
    pd.DataFrame({"row": [3, 10], "given": ["spam", "spam"]}).to_csv(drops, index=False)
    fixes = tmp_path / "fix.csv"
    pd.DataFrame({"row": [42, 77], "suggested": ["ham", "ham"]}).to_csv(fixes, index=False)
    run = tmp_path / "run"
    code, _, err = run_cli(["train", str(path), "--model", str(tiny_model_dir), "-o", str(run),
                            "--epochs", "1", "--max-length", "32", "--no-refit", "--no-baseline",
                            "--drop-rows", str(drops), "--relabel", str(fixes)], capsys, monkeypatch)
    assert code == 0, err
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["drop_rows"] == [3, 10]
    assert {int(k): v for k, v in cfg["data"]["relabel"].items()} == {42: "ham", 77: "ham"}
    import json
    splits = json.loads((run / "splits.json").read_text())
    assert not {3, 10} & {r for s in ("train", "validation", "test") for r in splits[s]["rows"]}
    again = prepare(DataConfig.model_validate(cfg["data"]))   # config.yaml reproduces the edits
    assert again.splits["train"].rows == splits["train"]["rows"]


BAD_EDITS = {
    "unknown row": ("--drop-rows", "row\n3\n9999\n", "names row 9999"),
    "no row column": ("--drop-rows", "line\n3\n", "has no 'row' column"),
    "not a number": ("--drop-rows", "row\nthree\n", "'row' holds 'three'"),
    "no label column": ("--relabel", "row,given\n3,spam\n", "has no suggested (or label) column"),
    "unknown label": ("--relabel", "row,suggested\n3,hma\n", "label 'hma', which is not a label"),
    "missing file": ("--relabel", None, "does not exist"),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_bad_decision_files_are_one_sentence_and_exit_2(case, tiny_model_dir, tmp_path, capsys, monkeypatch):
    flag, content, message = BAD_EDITS[case]
    path, _ = noisy_sms(tmp_path / "sms.csv")
    edits = tmp_path / "edits.csv"
    if content is not None:
        edits.write_text(content)
    code, out, err = run_cli(["train", str(path), "--model", str(tiny_model_dir), "-o", str(tmp_path / "run"),
                              flag, str(edits)], capsys, monkeypatch)
    assert code == 2, err
    assert message in err and "Traceback" not in err + out and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_fine_tuned_out_of_fold_predictions(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """--model fine-tunes once per fold; every row gets probabilities from the fold that held it out."""
    import textclf.api as api

    path, rows = noisy_sms(tmp_path / "sms.csv")
    issues = api.label_issues(DataConfig(train=str(path)), folds=2, model=str(tiny_model_dir),
                              train_settings=dict(epochs=1, max_length=32, refit=False, baseline=False),
                              all_rows=True)
    assert sorted(issues.table["row"]) == list(range(len(rows) + 1))
    assert issues.table["score"].between(0, 1).all()
    assert "fine-tuned" in issues.method and "2-fold" in issues.method


def test_decision_files_keep_only_the_training_files_lines(tmp_path):
    from textclf.data.row_edits import read_drop_rows, read_relabel

    train = tmp_path / "train.csv"
    p = tmp_path / "issues.csv"
    pd.DataFrame({"row": [4, 2, 4, 9], "file": [str(train), str(train), str(train), str(tmp_path / "valid.csv")],
                  "suggested": ["ham", "spam", "ham", "ham"]}).to_csv(p, index=False)
    assert read_drop_rows(str(p), str(train)) == [2, 4]
    assert read_relabel(str(p), str(train)) == {4: "ham", 2: "spam"}
    pd.DataFrame({"row": [1, 1], "label": ["ham", "spam"]}).to_csv(p, index=False)
    from textclf.errors import DataError
    with pytest.raises(DataError, match="gives row 1 two labels"):
        read_relabel(str(p), str(train))


def test_multi_label_rows_lacking_a_label_are_still_judged_on_the_others():
    """A run's validation and test rows can lack a rare label; cleanlab judges the others."""
    from textclf.data.labels import LabelSpace

    space = LabelSpace(names=("a", "b", "c"), multi_label=True)
    rng = np.random.default_rng(0)
    y = np.zeros((40, 3))
    y[:20, 0] = 1
    y[20:, 1] = 1                       # label c: no row carries it
    probs = np.clip(y + rng.normal(0, 0.05, y.shape), 0.01, 0.99)
    probs[5] = [0.02, 0.97, 0.01]       # row 5 says a, looks like b
    flagged, quality = li.label_quality(y, probs, space)
    assert flagged[5] and quality.argmin() == 5
    one = np.c_[y[:, 0], np.zeros(40), np.ones(40)]   # one label varies: nothing to judge
    assert not li.label_quality(one, probs, space)[0].any()
