"""`textclf push` against a local stand-in of the Hub's HTTP API (no network)."""
import shutil

import pytest

from hub_standin import HubStandIn
from test_cli import run_cli

TOKEN = "hf_standin_token"


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    from conftest import train_tiny_sms

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("push"), baseline=False)
    model = run.path / "model"
    (model / "README.md").write_text("---\nlibrary_name: transformers\npipeline_tag: text-classification\n"
                                     "---\n# tiny sms model\n", encoding="utf-8")
    # training leftovers that must never be uploaded
    (model / "checkpoint-8").mkdir()
    (model / "checkpoint-8" / "optimizer.pt").write_bytes(b"optimizer state")
    (model / "training_args.bin").write_bytes(b"pickled args")
    (model / "pytorch_model.bin").write_bytes(b"pickled weights")
    return run.path


@pytest.fixture
def hub(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)     # the test suite runs offline
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the stand-in speaks LFS, not Xet
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    with HubStandIn(TOKEN) as h:
        monkeypatch.setenv("HF_ENDPOINT", h.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield h




EXPECTED = {"README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}


def test_push_commits_exactly_the_model_files(run_dir, hub, capsys, monkeypatch):
    code, out, err = run_cli(["push", str(run_dir), "--repo-id", "alice/sms-spam", "--private"],
                             capsys, monkeypatch)
    assert code == 0, err
    assert "pushed 5 files" in out
    created = hub.record.repos["alice/sms-spam"]
    assert created.get("visibility") == "private" or created.get("private") is True
    assert len(hub.record.commits) == 1
    commit = hub.record.commits[0]
    assert commit.repo_id == "alice/sms-spam" and commit.revision == "main"
    assert set(commit.files) == EXPECTED
    for name, data in commit.files.items():
        assert data == (run_dir / "model" / name).read_bytes(), name
    assert commit.lfs_paths == {"model.safetensors"}   # the weights went through LFS


def test_public_by_default_and_existing_repo_is_reused(run_dir, hub):
    from textclf.publish import push

    first = push(run_dir, "bob/spam", say=lambda *a: None)
    again = push(run_dir / "model", "bob/spam", say=lambda *a: None)
    created = hub.record.repos["bob/spam"]
    assert created.get("visibility", "public") == "public" and not created.get("private")
    assert len(hub.record.commits) == 2 and first["files"] == again["files"]


def test_dry_run_lists_paths_and_sizes_and_uploads_nothing(run_dir, hub, capsys, monkeypatch):
    code, out, err = run_cli(["push", str(run_dir), "--repo-id", "alice/x", "--dry-run", "--onnx"],
                             capsys, monkeypatch)
    assert code == 0, err
    assert hub.record.requests == [] and hub.record.commits == []
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert set(listed) == EXPECTED | {"onnx/model.int8.onnx", "onnx/export.json"}
    size = (run_dir / "model" / "config.json").stat().st_size
    assert f"config.json  ({size:,} bytes)" in out
    assert "to be exported first" in out
    for left_out in ("optimizer.pt", "training_args.bin", "pytorch_model.bin"):
        assert left_out in out.split("not uploaded:")[1]
    assert not (run_dir / "model" / "onnx").exists()   # a dry run writes nothing


def test_onnx_is_exported_then_pushed(run_dir, hub, tmp_path):
    from textclf.publish import push

    copy = tmp_path / "model"
    shutil.copytree(run_dir / "model", copy)
    r = push(copy, "alice/spam-onnx", onnx=True, say=lambda *a: None)
    files = hub.record.commits[-1].files
    assert "onnx/model.int8.onnx" in files and "onnx/export.json" in files
    assert "onnx/model.onnx" not in files            # the int8 model only
    assert files["onnx/model.int8.onnx"] == (copy / "onnx" / "model.int8.onnx").read_bytes()
    assert r["files"] == sorted(files)


@pytest.mark.parametrize("case", ["no token", "wrong token", "bad repo id", "offline"])
def test_push_errors_are_one_sentence(case, run_dir, hub, capsys, monkeypatch):
    repo = "alice/spam"
    if case == "no token":
        monkeypatch.delenv("HF_TOKEN")
    elif case == "wrong token":
        monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    elif case == "bad repo id":
        repo = "just-a-name"
    else:
        from huggingface_hub import constants
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    code, out, err = run_cli(["push", str(run_dir), "--repo-id", repo], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err
    expected = {"no token": "No Hugging Face token found: set HF_TOKEN",
                "wrong token": "HTTP 401", "bad repo id": "must look like USER/NAME",
                "offline": "HF_HUB_OFFLINE is set"}[case]
    assert expected in " ".join(err.split())
    assert hub.record.commits == []
