"""`textclf push`: upload a run's model dir to the Hugging Face Hub in one commit.

Only what a user of the model needs goes up: safetensors weights, the config, tokenizer files,
the model card (README.md) and, with --onnx, the int8 ONNX export (and the compressed one, where
exported). Checkpoints, optimizer and scheduler states, pickled weights and anything else in the
dir stay local.
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path

from textclf import runs
from textclf.errors import TextclfError
from textclf.inference.backends import COMPRESSED_TOKENIZER, ONNX_COMPRESSED, ONNX_DIR, ONNX_INT8

# files of a model dir that are uploaded (globs over paths relative to the model dir)
MODEL_FILES = ("config.json", "model.safetensors", "model-*-of-*.safetensors",
               "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")
CARD = "README.md"
ONNX_FILES = (f"{ONNX_DIR}/{ONNX_INT8}", f"{ONNX_DIR}/export.json")
# with --onnx, also the compressed export where the model dir has one (textclf export --compress)
COMPRESSED_FILES = (f"{ONNX_DIR}/{ONNX_COMPRESSED}", f"{ONNX_DIR}/{COMPRESSED_TOKENIZER}/*")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class PushError(TextclfError):
    """The model cannot be pushed as asked (no token, bad repo id, the Hub refused)."""


@dataclass
class Upload:
    path_in_repo: str
    local: Path | None        # None: produced before upload (the ONNX export)
    size: int | None

    def describe(self) -> str:
        size = "to be exported first" if self.size is None else f"{self.size:,} bytes"
        return f"{self.path_in_repo}  ({size})"


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _wanted(rel: str, onnx: bool) -> bool:
    patterns = MODEL_FILES + TOKENIZER_FILES + (CARD,) + (ONNX_FILES + COMPRESSED_FILES if onnx else ())
    return any(fnmatch.fnmatchcase(rel, p) for p in patterns)


def plan(model_dir: Path, *, onnx: bool = False) -> tuple[list[Upload], list[str]]:
    """(files to upload, files left out) for a model dir; sorted by path."""
    uploads, skipped = [], []
    for f in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = f.relative_to(model_dir).as_posix()
        if _wanted(rel, onnx):
            uploads.append(Upload(rel, f, f.stat().st_size))
        else:
            skipped.append(rel)
    if not any(u.path_in_repo.endswith(".safetensors") for u in uploads):
        raise PushError(f"{model_dir} has no safetensors weights; only safetensors models are pushed.")
    if onnx and not any(u.path_in_repo == ONNX_FILES[0] for u in uploads):
        uploads += [Upload(p, None, None) for p in ONNX_FILES]
    return sorted(uploads, key=lambda u: u.path_in_repo), skipped


def check_repo_id(repo_id: str) -> str:
    if not REPO_ID.match(repo_id or ""):
        raise PushError(f"--repo-id {repo_id!r} must look like USER/NAME (or ORG/NAME).")
    return repo_id


def hub_token() -> str:
    """The token from HF_TOKEN or a saved `hf auth login`; PushError if there is none."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PushError("No Hugging Face token found: set HF_TOKEN or run `hf auth login` first.")
    return token


def _export_onnx(model_dir: Path, say) -> None:
    from textclf.inference.onnx import export

    say("no int8 ONNX export in the model dir; exporting it first ...")
    export(model_dir, quantize=True, overwrite=True, say=say)


def push(path: str | Path, repo_id: str, *, private: bool = False, onnx: bool = False,
         dry_run: bool = False, say=print) -> dict:
    """Upload the model dir of a run (or a model dir) to `repo_id`; with `dry_run` only list
    what would be uploaded. Returns {"files": [...], "skipped": [...], "url"?, "commit"?}."""
    check_repo_id(repo_id)
    model_dir = runs.model_dir_of(path)
    uploads, skipped = plan(model_dir, onnx=onnx)
    result = {"repo_id": repo_id, "private": private, "model_dir": str(model_dir),
              "files": [u.path_in_repo for u in uploads], "skipped": skipped}
    if dry_run:
        total = sum(u.size or 0 for u in uploads)
        say(f"dry run: would upload {len(uploads)} files ({_human(total)}) from {model_dir} to "
            f"{repo_id} ({'private' if private else 'public'}):")
        for u in uploads:
            say(f"  {u.describe()}")
        if skipped:
            say("not uploaded: " + ", ".join(skipped))
        if not any(u.path_in_repo == CARD for u in uploads):
            say("note: no model card (README.md) in the model dir.")
        return result
    token = hub_token()
    if any(u.local is None for u in uploads):
        _export_onnx(model_dir, say)
        uploads, skipped = plan(model_dir, onnx=onnx)
        result.update(files=[u.path_in_repo for u in uploads], skipped=skipped)
    url, commit = _upload(model_dir, uploads, repo_id, token, private, say)
    result.update(url=url, commit=commit)
    return result


def _upload(model_dir: Path, uploads: list[Upload], repo_id: str, token: str, private: bool,
            say) -> tuple[str, str]:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    endpoint = os.environ.get("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint, token=token)
    ops = [CommitOperationAdd(path_in_repo=u.path_in_repo, path_or_fileobj=str(u.local))
           for u in uploads]
    try:
        say(f"creating {repo_id} on {api.endpoint} ({'private' if private else 'public'}, "
            "kept as it is if it exists) ...")
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        say(f"uploading {len(ops)} files ...")
        info = api.create_commit(repo_id, ops, repo_type="model",
                                 commit_message=f"Upload textclf model {_run_name(model_dir)}")
    except OfflineModeIsEnabled:
        raise PushError("HF_HUB_OFFLINE is set; unset it to push to the Hub.") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        reason = str(exc).splitlines()[0]
        hint = " Check that the token has write access." if status in (401, 403) else ""
        raise PushError(f"The Hub refused the push to {repo_id} (HTTP {status}): {reason}.{hint}") from None
    except _network_errors() as exc:   # connection refused, DNS, TLS, timeouts
        raise PushError(f"Cannot reach the Hub at {api.endpoint}: {exc}.") from None
    return str(repo_url), info.oid


def _run_name(model_dir: Path) -> str:
    """The run's name for a run's model/ dir, else the model dir's own name."""
    return model_dir.parent.name if model_dir.name == runs.MODEL_DIR else model_dir.name


def _network_errors() -> tuple[type, ...]:
    """Connection-level exceptions of whichever HTTP client huggingface_hub uses."""
    import importlib

    found: list[type] = [OSError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests", "ConnectionError")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)
