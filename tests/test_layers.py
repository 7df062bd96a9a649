"""The package's imports run one way, down the layers: every textclf import in a module (lazy
ones inside functions included) names its own part of the package or a lower one."""
from __future__ import annotations

import ast
from pathlib import Path

import textclf

ROOT = Path(textclf.__file__).parent

# higher imports lower, never the other way; equal levels do not import each other
LEVEL = {"errors": 0, "model_settings": 1, "runs": 1, "config": 2,
         "data": 3, "models": 3, "evaluation": 4,
         "inference": 5, "reporting": 5, "training": 6,
         "api": 7, "tuning": 8, "runlist": 8, "publish": 8, "serving": 8, "cli": 9, "__main__": 10}


def part(module: str) -> str:
    """textclf.training.phases -> training; textclf.api -> api."""
    return module.split(".")[1]


def imported_parts(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "textclf":
                out |= {a.name for a in node.names if a.name in LEVEL}
            elif node.module.startswith("textclf."):
                out.add(part(node.module))
        elif isinstance(node, ast.Import):
            out |= {part(a.name) for a in node.names if a.name.startswith("textclf.")}
    return out


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts == ("__init__.py",):
            continue   # the package's front door re-exports train/load
        yield rel.parts[0].removesuffix(".py"), path


def test_every_part_has_a_level():
    assert {name for name, _ in modules()} <= set(LEVEL)


def test_imports_only_go_down():
    upward = []
    for name, path in modules():
        for target in imported_parts(path) - {name}:
            if LEVEL[target] >= LEVEL[name]:
                upward.append(f"{path.relative_to(ROOT)} imports textclf.{target}")
    assert upward == []


def test_the_checker_sees_a_lazy_upward_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from textclf.api import score\n    import textclf.cli\n")
    assert imported_parts(bad) == {"api", "cli"}
