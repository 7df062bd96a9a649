"""A local stand-in for the Hugging Face Hub's HTTP API, enough for create_repo + create_commit.

Served by uvicorn on 127.0.0.1 in a thread. It checks the bearer token, decides per file whether
it goes through LFS (weights and ONNX files, like the Hub's default .gitattributes) or inline,
accepts LFS uploads over the basic transfer (PUT, sha256 checked), and records every repo and
commit so a test can compare what arrived with what is on disk.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

LFS_SUFFIXES = (".safetensors", ".onnx", ".bin", ".pt")


@dataclass
class Commit:
    repo_id: str
    revision: str
    summary: str
    files: dict[str, bytes] = field(default_factory=dict)
    lfs_paths: set[str] = field(default_factory=set)


@dataclass
class HubRecord:
    repos: dict[str, dict] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


def make_app(token: str, record: HubRecord, base_url: str):
    app = FastAPI()

    @app.middleware("http")
    async def auth(request: Request, call_next):
        record.requests.append(f"{request.method} {request.url.path}")
        if not request.url.path.startswith("/lfs-upload/"):
            if request.headers.get("authorization") != f"Bearer {token}":
                return JSONResponse({"error": "Invalid credentials in Authorization header"}, 401)
        return await call_next(request)

    @app.post("/api/repos/create")
    async def create(request: Request):
        body = await request.json()
        repo_id = f"{body['organization']}/{body['name']}"
        if repo_id in record.repos:
            return JSONResponse({"error": "You already created this model repo",
                                 "url": f"{base_url}/{repo_id}"}, 409)
        record.repos[repo_id] = body
        return {"url": f"{base_url}/{repo_id}", "name": repo_id}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request):
        await request.json()
        return {"errors": [], "warnings": []}

    @app.post("/api/models/{org}/{name}/preupload/{revision}")
    async def preupload(org: str, name: str, revision: str, request: Request):
        if f"{org}/{name}" not in record.repos:
            return JSONResponse({"error": "Repository not found"}, 404)
        files = (await request.json())["files"]
        return {"files": [{"path": f["path"], "shouldIgnore": False, "oid": None,
                           "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular"}
                          for f in files]}

    @app.post("/{org}/{name}.git/info/lfs/objects/batch")
    async def lfs_batch(org: str, name: str, request: Request):
        body = await request.json()
        assert body["operation"] == "upload" and "basic" in body["transfers"]
        objects = [{"oid": o["oid"], "size": o["size"], "authenticated": True,
                    "actions": {"upload": {"href": f"{base_url}/lfs-upload/{o['oid']}"}}}
                   for o in body["objects"]]
        return {"transfer": "basic", "objects": objects}

    @app.put("/lfs-upload/{oid}")
    async def lfs_put(oid: str, request: Request):
        data = await request.body()
        if hashlib.sha256(data).hexdigest() != oid:
            return JSONResponse({"error": "sha256 mismatch"}, 400)
        record.lfs_objects[oid] = data
        return {}

    @app.post("/api/models/{org}/{name}/commit/{revision}")
    async def commit(org: str, name: str, revision: str, request: Request):
        repo_id = f"{org}/{name}"
        if repo_id not in record.repos:
            return JSONResponse({"error": "Repository not found"}, 404)
        lines = [json.loads(x) for x in (await request.body()).splitlines() if x.strip()]
        c = Commit(repo_id, revision, lines[0]["value"]["summary"])
        for item in lines[1:]:
            v = item["value"]
            if item["key"] == "file":
                c.files[v["path"]] = base64.b64decode(v["content"])
            elif item["key"] == "lfsFile":
                if v["oid"] not in record.lfs_objects:
                    return JSONResponse({"error": f"LFS object {v['oid']} was never uploaded"}, 400)
                c.files[v["path"]] = record.lfs_objects[v["oid"]]
                c.lfs_paths.add(v["path"])
            else:
                return JSONResponse({"error": f"unsupported commit operation {item['key']}"}, 400)
        record.commits.append(c)
        oid = hashlib.sha1(repr(sorted(c.files)).encode()).hexdigest()
        return {"commitUrl": f"{base_url}/{repo_id}/commit/{oid}", "commitOid": oid,
                "pullRequestUrl": None}

    return app


class HubStandIn:
    """Context manager: start the stand-in, yield (endpoint URL, HubRecord)."""

    def __init__(self, token: str):
        self.token = token
        self.record = HubRecord()

    def __enter__(self):
        from loopback import LoopbackServer

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))   # the URL is part of the app, so bind first
        url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.loop = LoopbackServer(make_app(self.token, self.record, url), sock=self.sock)
        self.url = self.loop.__enter__().url
        return self

    def __exit__(self, *exc):
        self.loop.__exit__(*exc)
