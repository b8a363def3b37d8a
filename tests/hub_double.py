"""Test double of the Hugging Face Hub HTTP API, for tests only. It is not a Hub.

The app serves the subset of routes that the ``huggingface_hub`` 2.4.0 client calls
for model repos: create_repo, model_info / repo_exists, whoami, create_branch,
list_repo_refs, list_repo_files / list_repo_tree, upload_file / upload_folder /
create_commit, hf_hub_download and snapshot_download. The request and response
shapes follow the client source in ``huggingface_hub/{hf_api,_commit_api,
_upload_pipeline,file_download,_snapshot_download}.py``.

Storage: file contents go to ``storage_dir/blobs``, named by their git blob sha1.
Repos, branches and commits live in memory and are lost when the app goes away.

Uploads: preupload returns ``"regular"`` for every file, so the client sends the
content inline as base64 in the NDJSON commit body. The client then never starts
an LFS or Xet transfer, even with ``hf_xet`` installed. Downloads carry no
``X-Xet-Hash`` header, so the client downloads over plain HTTP.

Auth: each token in ``tokens`` acts as ``username`` with write access to every
repo. A request with an unknown token gets 401 with ``X-Error-Message: Invalid
credentials in Authorization header``, which the client raises as
``HfHubHTTPError``. A missing repo, or a private one requested without a token,
gives 401 (no token) or 404 (valid token) with ``X-Error-Code: RepoNotFound``,
which the client raises as ``RepositoryNotFoundError``. A missing file gives 404
with ``X-Error-Code: EntryNotFound`` and a missing revision 404 with
``X-Error-Code: RevisionNotFound``.

Usage: ``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, at
import (``huggingface_hub.constants``). Either pass the URL explicitly::

    with run_hub_double(tmp_path / "hub", {"hf_test"}) as url:
        HfApi(endpoint=url, token="hf_test").create_repo("user/model")
        hf_hub_download("user/model", "config.json", endpoint=url, cache_dir=...)

or pick the port before ``huggingface_hub`` is imported (e.g. at the top of
``conftest.py``) and start the double on it later::

    PORT = find_free_port()
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{PORT}"
    ...
    with run_hub_double(storage_dir, {"hf_test"}, port=PORT):
        ...
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import uvicorn
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

logger = logging.getLogger(__name__)

INITIAL_GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n" + (
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
COMMIT_SHA_PATTERN = re.compile(r"[0-9a-f]{40}")
INVALID_TOKEN_MESSAGE = "Invalid credentials in Authorization header"


class HubError(Exception):
    """Error sent back as a Hub-style JSON body with X-Error-* headers."""

    def __init__(
        self,
        status: int,
        message: str,
        error_code: str | None = None,
        commit: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.commit = commit
        self.extra_body = extra_body or {}


@dataclass
class Commit:
    oid: str
    parent: str | None
    message: str
    date: str
    files: dict[str, str]  # path in repo -> git blob sha1


@dataclass
class Repo:
    repo_id: str
    private: bool
    created_at: str
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free when checked."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HubDoubleState:
    """Repos, blobs, tokens and the request log behind one app."""

    def __init__(self, storage_dir: Path, tokens: Collection[str], username: str):
        self.blob_dir = Path(storage_dir) / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tokens = frozenset(tokens)
        self.username = username
        self.repos: dict[str, Repo] = {}
        self.request_log: list[str] = []  # "METHOD /path" of every request served

    def store_blob(self, content: bytes) -> str:
        oid = git_blob_sha1(content)
        (self.blob_dir / oid).write_bytes(content)
        return oid

    def read_blob(self, oid: str) -> bytes:
        return (self.blob_dir / oid).read_bytes()

    def blob_size(self, oid: str) -> int:
        return (self.blob_dir / oid).stat().st_size

    def authenticate(self, request: Request) -> str | None:
        """Return the user name for a valid bearer token, or None without one."""
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise HubError(401, INVALID_TOKEN_MESSAGE)
        return self.username

    def require_user(self, request: Request) -> str:
        user = self.authenticate(request)
        if user is None:
            raise HubError(401, "Authentication required: send a valid bearer token.")
        return user

    def get_repo(self, request: Request, repo_id: str, *, write: bool) -> Repo:
        """Return the repo, raising as the Hub does when the caller may not see it."""
        user = self.require_user(request) if write else self.authenticate(request)
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and user is None):
            status = 401 if user is None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        return repo

    def resolve(self, repo: Repo, revision: str) -> Commit:
        """Return the commit that a branch name or a full commit sha points to."""
        if revision in repo.branches:
            return repo.commits[repo.branches[revision]]
        if COMMIT_SHA_PATTERN.fullmatch(revision) and revision in repo.commits:
            return repo.commits[revision]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def add_commit(
        self, repo: Repo, branch: str, message: str, files: dict[str, str]
    ) -> Commit:
        parent = repo.branches.get(branch)
        date = utc_timestamp()
        # The counter keeps two commits with equal content and timestamp apart.
        seed = json.dumps(
            [repo.repo_id, parent, message, date, files, len(repo.commits)]
        )
        commit = Commit(
            hashlib.sha1(seed.encode()).hexdigest(), parent, message, date, files
        )
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit


def split_raw_tail(request: Request, skip: int) -> tuple[str, str]:
    """Split the raw URL path after `skip` segments into (revision, path in repo).

    The client percent-encodes "/" inside a revision ("refs%2Fpr%2F1"), which the
    decoded path loses, so both parts are read from the raw path.
    """
    raw_path = request.scope["raw_path"].decode("latin-1")
    tail = raw_path.split("/", skip + 1)[skip + 1] if raw_path.count("/") > skip else ""
    revision, _, path = tail.partition("/")
    return unquote(revision), unquote(path)


async def read_json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HubError(400, f"Invalid JSON body: {error}") from error
    if not isinstance(body, dict):
        raise HubError(400, f"Invalid JSON body: expected an object, got {body!r}")
    return body


def validate_path_in_repo(path: Any) -> str:
    if not isinstance(path, str):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


def repo_info_body(
    state: HubDoubleState, repo: Repo, commit: Commit, with_blobs: bool
) -> dict[str, Any]:
    siblings = []
    for path, oid in sorted(commit.files.items()):
        sibling: dict[str, Any] = {"rfilename": path}
        if with_blobs:
            sibling |= {"blobId": oid, "size": state.blob_size(oid)}
        siblings.append(sibling)
    return {
        "_id": repo.repo_id,
        "id": repo.repo_id,
        "modelId": repo.repo_id,
        "author": repo.repo_id.split("/")[0],
        "sha": commit.oid,
        "lastModified": commit.date,
        "createdAt": repo.created_at,
        "private": repo.private,
        "gated": False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    }


def list_tree(
    state: HubDoubleState, commit: Commit, folder: str, recursive: bool
) -> list[dict[str, Any]]:
    """List files and folders under `folder` ("" for the root), like GET /tree."""
    prefix = f"{folder}/" if folder else ""
    entries: dict[str, dict[str, Any]] = {}
    for path, oid in commit.files.items():
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        depth = len(parts) if recursive else 1
        for index in range(1, min(depth, len(parts) - 1) + 1):
            folder_path = prefix + "/".join(parts[:index])
            children = sorted(
                (p, o)
                for p, o in commit.files.items()
                if p.startswith(folder_path + "/")
            )
            # A stand-in for a git tree sha1: it changes when any file below changes.
            tree_oid = hashlib.sha1(json.dumps(children).encode()).hexdigest()
            entries[folder_path] = {
                "type": "directory",
                "oid": tree_oid,
                "size": 0,
                "path": folder_path,
            }
        if len(parts) <= depth:
            size = state.blob_size(oid)
            entries[path] = {"type": "file", "oid": oid, "size": size, "path": path}
    if folder and not entries:
        raise HubError(404, f"Folder not found: {folder}", "EntryNotFound", commit.oid)
    return [entries[path] for path in sorted(entries)]


def apply_commit_operations(
    state: HubDoubleState, lines: list[dict[str, Any]], files: dict[str, str]
) -> None:
    """Apply the NDJSON operations of a commit body to `files`, in order."""
    for line in lines:
        if not isinstance(line, dict) or not isinstance(line.get("value"), dict):
            raise HubError(400, f"Invalid commit operation: {line!r}")
        key, value = line.get("key"), line["value"]
        if key == "file":
            path = validate_path_in_repo(value.get("path"))
            if value.get("encoding") != "base64":
                raise HubError(400, f"Unsupported encoding for {path}: use base64.")
            try:
                content = base64.b64decode(value.get("content", ""), validate=True)
            except (binascii.Error, TypeError) as error:
                raise HubError(400, f"Invalid base64 content for {path}") from error
            files[path] = state.store_blob(content)
        elif key == "deletedFile":
            path = value.get("path", "")
            if files.pop(path, None) is None:
                message = f"A file with this name doesn't exist: {path}"
                raise HubError(404, message, "EntryNotFound")
        elif key == "deletedFolder":
            prefix = value.get("path", "").rstrip("/") + "/"
            for path in [p for p in files if p.startswith(prefix)]:
                del files[path]
        elif key == "lfsFile":
            # NOTE: preupload never returns "lfs", so the client only sends this when
            # it copies an LFS file from another repo, which this double rejects.
            raise HubError(400, "LFS files are not supported by this Hub test double.")
        else:
            raise HubError(400, f"Unknown commit operation key: {key!r}")


def create_hub_double_app(
    storage_dir: Path, tokens: Collection[str], username: str = "test-user"
) -> FastAPI:
    """Create the test double app. Its HubDoubleState is `app.state.hub`."""
    state = HubDoubleState(storage_dir, tokens, username)
    app = FastAPI(title="Hugging Face Hub test double")
    app.state.hub = state

    @app.exception_handler(HubError)
    async def send_hub_error(request: Request, error: HubError) -> JSONResponse:
        logger.info(
            "Hub test double: %s %s -> %d %s",
            request.method,
            request.url.path,
            error.status,
            error.message,
        )
        # Header values must be latin-1, while messages may quote any file name.
        header_message = error.message.encode("ascii", "backslashreplace").decode()
        headers = {"X-Error-Message": header_message}
        if error.error_code is not None:
            headers["X-Error-Code"] = error.error_code
        if error.commit is not None:
            headers["X-Repo-Commit"] = error.commit
        body = {"error": error.message, **error.extra_body}
        return JSONResponse(body, error.status, headers=headers)

    @app.middleware("http")
    async def log_request(request: Request, call_next: Any) -> Response:
        state.request_log.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    @app.get("/api/whoami-v2")
    async def whoami(request: Request) -> dict[str, Any]:
        user = state.require_user(request)
        access_token = {"displayName": "hub-double", "role": "write"}
        return {
            "type": "user",
            "id": hashlib.sha1(user.encode()).hexdigest()[:24],
            "name": user,
            "fullname": user,
            "orgs": [],
            "auth": {"type": "access_token", "accessToken": access_token},
        }

    @app.post("/api/repos/create")
    async def create_repo(request: Request) -> JSONResponse:
        user = state.require_user(request)
        body = await read_json_object(request)
        if body.get("type", "model") != "model":
            raise HubError(400, "This Hub test double stores model repos only.")
        namespace, name = body.get("organization") or user, body.get("name", "")
        if not (NAME_PATTERN.fullmatch(namespace) and NAME_PATTERN.fullmatch(name)):
            raise HubError(400, f"Invalid repo name: {namespace}/{name}")
        repo_id = f"{namespace}/{name}"
        url = f"{str(request.base_url).rstrip('/')}/{repo_id}"
        if repo_id in state.repos:
            # create_repo(exist_ok=True) reads "url" from this 409 body.
            message = f"You already created this model repo: {repo_id}"
            raise HubError(409, message, extra_body={"url": url})
        private = body.get("visibility") == "private" or body.get("private") is True
        repo = Repo(repo_id, private, utc_timestamp())
        gitattributes = {".gitattributes": state.store_blob(INITIAL_GITATTRIBUTES)}
        state.add_commit(repo, "main", "initial commit", gitattributes)
        state.repos[repo_id] = repo
        return JSONResponse({"url": url, "name": repo_id, "id": repo_id})

    @app.get("/api/models/{namespace}/{name}")
    async def model_info(
        request: Request, namespace: str, name: str, blobs: bool = False
    ) -> dict[str, Any]:
        repo = state.get_repo(request, f"{namespace}/{name}", write=False)
        return repo_info_body(state, repo, state.resolve(repo, "main"), blobs)

    @app.get("/api/models/{namespace}/{name}/revision/{revision:path}")
    async def model_info_at_revision(
        request: Request, namespace: str, name: str, revision: str, blobs: bool = False
    ) -> dict[str, Any]:
        repo = state.get_repo(request, f"{namespace}/{name}", write=False)
        return repo_info_body(state, repo, state.resolve(repo, revision), blobs)

    @app.get("/api/models/{namespace}/{name}/tree/{tail:path}")
    async def list_repo_tree(
        request: Request, namespace: str, name: str, recursive: bool = False
    ) -> list[dict[str, Any]]:
        repo = state.get_repo(request, f"{namespace}/{name}", write=False)
        revision, folder = split_raw_tail(request, skip=5)
        # NOTE: every listing is one page, because no "Link: rel=next" is ever sent.
        return list_tree(state, state.resolve(repo, revision), folder, recursive)

    @app.get("/api/models/{namespace}/{name}/refs")
    async def list_repo_refs(
        request: Request, namespace: str, name: str
    ) -> dict[str, Any]:
        repo = state.get_repo(request, f"{namespace}/{name}", write=False)
        branches = [
            {"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": oid}
            for branch, oid in sorted(repo.branches.items())
        ]
        return {"branches": branches, "converts": [], "tags": []}

    @app.post("/api/models/{namespace}/{name}/branch/{branch:path}")
    async def create_branch(
        request: Request, namespace: str, name: str, branch: str
    ) -> dict[str, Any]:
        repo = state.get_repo(request, f"{namespace}/{name}", write=True)
        body = await read_json_object(request)
        start = state.resolve(repo, body.get("startingPoint") or "main")
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        repo.branches[branch] = start.oid
        return {}

    @app.post("/api/models/{namespace}/{name}/preupload/{revision:path}")
    async def preupload(
        request: Request, namespace: str, name: str, revision: str
    ) -> dict[str, Any]:
        repo = state.get_repo(request, f"{namespace}/{name}", write=True)
        if "create_pr" in request.query_params:
            raise HubError(400, "Pull requests are not supported by this test double.")
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        head = state.resolve(repo, revision)
        body = await read_json_object(request)
        items = body.get("files")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            message = 'Invalid preupload request: "files" must be a list of objects.'
            raise HubError(400, message)
        paths = [validate_path_in_repo(item.get("path")) for item in items]
        # NOTE: "regular" keeps every upload inline (no LFS, no Xet), and the
        # gitIgnore rules the client forwards are not applied.
        upload_modes = [
            {
                "path": path,
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": head.files.get(path),
            }
            for path in paths
        ]
        return {"files": upload_modes, "commitOid": head.oid}

    @app.post("/api/models/{namespace}/{name}/commit/{revision:path}")
    async def commit(
        request: Request, namespace: str, name: str, revision: str
    ) -> dict[str, Any]:
        repo = state.get_repo(request, f"{namespace}/{name}", write=True)
        if "create_pr" in request.query_params:
            raise HubError(400, "Pull requests are not supported by this test double.")
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

        try:
            body = (await request.body()).decode()
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HubError(400, f"Invalid NDJSON commit body: {error}") from error
        header = lines[0].get("value") if lines and isinstance(lines[0], dict) else None
        if not isinstance(header, dict) or lines[0].get("key") != "header":
            raise HubError(400, "The first line of a commit body must be the header.")
        if not isinstance(header.get("summary"), str):
            raise HubError(400, "The commit header is missing its summary.")

        head = state.resolve(repo, revision)
        parent_commit = header.get("parentCommit")
        if parent_commit is not None and parent_commit != head.oid:
            message = "A commit has happened since. Please refresh and try again."
            raise HubError(412, message)
        # Operations apply to a copy, so a rejected commit leaves the branch as is.
        files = dict(head.files)
        apply_commit_operations(state, lines[1:], files)
        new_commit = state.add_commit(repo, revision, header["summary"], files)

        base_url = str(request.base_url).rstrip("/")
        return {
            "success": True,
            "commitOid": new_commit.oid,
            "commitUrl": f"{base_url}/{repo.repo_id}/commit/{new_commit.oid}",
            "pullRequestUrl": None,
        }

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request) -> JSONResponse:
        state.authenticate(request)
        content = (await read_json_object(request)).get("content")
        if not isinstance(content, str):
            raise HubError(400, "Invalid validate-yaml request: missing content.")
        match = re.match(r"---\r?\n(.*?)\r?\n---", content, re.DOTALL)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as error:
            problem = f"Invalid YAML metadata in README.md: {error}"
        else:
            problem = None
            if metadata is not None and not isinstance(metadata, dict):
                problem = "Invalid YAML metadata in README.md: expected a mapping."
        if problem is None:
            return JSONResponse({"errors": [], "warnings": []})
        # The client reads "errors" from the body, so this skips HubError's format.
        logger.info("Hub test double: POST /api/validate-yaml -> 400 %s", problem)
        return JSONResponse({"errors": [{"message": problem}], "warnings": []}, 400)

    @app.api_route("/{namespace}/{name}/resolve/{tail:path}", methods=["GET", "HEAD"])
    async def resolve_file(request: Request, namespace: str, name: str) -> Response:
        repo = state.get_repo(request, f"{namespace}/{name}", write=False)
        revision, path = split_raw_tail(request, skip=3)
        commit = state.resolve(repo, revision)
        oid = commit.files.get(path)
        if oid is None:
            raise HubError(404, "Entry not found", "EntryNotFound", commit.oid)
        content = state.read_blob(oid)
        headers = {
            "ETag": f'"{oid}"',
            "X-Repo-Commit": commit.oid,
            "Accept-Ranges": "bytes",
        }
        byte_range = re.fullmatch(
            r"bytes=(\d+)-(\d*)", request.headers.get("range", "")
        )
        if byte_range is None:
            return Response(content, 200, headers, "application/octet-stream")
        first = int(byte_range.group(1))
        last = min(int(byte_range.group(2) or len(content) - 1), len(content) - 1)
        if first > last:
            logger.info("Hub test double: range %s of %s not satisfiable", first, path)
            return Response(b"", 416, {"Content-Range": f"bytes */{len(content)}"})
        headers["Content-Range"] = f"bytes {first}-{last}/{len(content)}"
        body = content[first : last + 1]
        return Response(body, 206, headers, "application/octet-stream")

    return app


class HubDoubleServer:
    """Uvicorn server for one test double app, run in a daemon thread."""

    def __init__(
        self,
        storage_dir: Path,
        tokens: Collection[str],
        *,
        port: int | None = None,
        username: str = "test-user",
    ) -> None:
        self.app = create_hub_double_app(storage_dir, tokens, username)
        self.state: HubDoubleState = self.app.state.hub
        self.port = port
        self.url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> str:
        """Bind 127.0.0.1:`port` (any free port if None), serve, return the URL."""
        if self._server is not None:
            raise RuntimeError(f"Hub test double already runs at {self.url}")
        sock = self._bind_socket()
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"hub-double-{self.port}",
            daemon=True,
        )
        self._thread.start()

        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                message = f"Hub test double failed to start on port {self.port}"
                raise RuntimeError(f"{message} within {timeout} s; see the log.")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.port}"
        logger.info("Hub test double started at %s", self.url)
        return self.url

    def _bind_socket(self) -> socket.socket:
        # asyncio sets TCP_NODELAY on accepted connections only when the listening
        # socket uses IPPROTO_TCP. Without it every keep-alive response waits ~40 ms
        # for a delayed ACK (measured on Linux).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # SO_REUSEADDR lets a fixed port be bound again right after a server stopped.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port or 0))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for its thread. A second call does nothing."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("Hub test double on port %s did not stop in time", self.port)
        else:
            logger.info("Hub test double stopped at %s", self.url)
        self._server = None
        self._thread = None


@contextlib.contextmanager
def run_hub_double(
    storage_dir: Path,
    tokens: Collection[str],
    *,
    port: int | None = None,
    username: str = "test-user",
) -> Iterator[str]:
    """Serve a new test double on 127.0.0.1 and yield its base URL.

    The URL reads "http://127.0.0.1:PORT". With `port=None` the OS picks a free
    port. Use HubDoubleServer directly to reach the state or the request log.
    """
    server = HubDoubleServer(storage_dir, tokens, port=port, username=username)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
