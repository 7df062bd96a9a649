"""What a run shows people: report.html (plots and tables) and the model card (model/README.md),
both built only from the files in the run dir, so `textclf report RUN` rebuilds them."""
from __future__ import annotations

from pathlib import Path


def write_reports(run_dir: str | Path, name: str | None = None) -> list[Path]:
    """Write report.html and model/README.md for a run dir; returns the paths written."""
    from textclf.reporting.card import write_card
    from textclf.reporting.html import write_html
    from textclf.reporting.runfiles import load_run

    run = load_run(run_dir, name)
    return [write_html(run), write_card(run)]


def finish_run(run_dir: str | Path, final: str | Path | None = None, say=print) -> None:
    """At the end of training, in the run's temp dir `run_dir` that becomes `final`: record the
    environment, then draw the result plots and write the reports. A report that fails to render does not throw the trained
    run away; it says so (rebuild: textclf report)."""
    import json

    import yaml

    from textclf import runs
    from textclf.reporting.environment import FILE, environment
    from textclf.reporting.plots import save_result_plots

    run_dir = Path(run_dir)
    final = Path(final) if final is not None else run_dir
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    runs.write_json(run_dir / FILE, environment(cfg.get("model", "default")))
    try:
        save_result_plots(json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["test"], run_dir)
        write_reports(run_dir, final.name)
    except Exception as exc:   # noqa: BLE001 - the model and metrics are already written
        say(f"[yellow]! report.html / model card not written ({type(exc).__name__}: {exc}); "
            f"rebuild them with: textclf report {final}")
