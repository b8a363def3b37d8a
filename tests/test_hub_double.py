"""Run the real huggingface_hub client against the Hub test double in hub_double."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# huggingface_hub reads its settings at import, so telemetry goes off first.
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import get_session

from tests.hub_double import HubDoubleServer, find_free_port, run_hub_double

TOKEN = "hf_double_write_token"
UPLOADED_FILES = ["README.md", "config.json", "model.safetensors"]
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


@pytest.fixture()
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Hugging Face home, caches and token lookup away from ~/.cache.

    The client reads HF_HOME at import, so every test also passes cache_dir and
    token explicitly. hf_xet reads HF_HOME and HF_XET_CACHE when its session
    starts, which happens on the first upload_folder of the process.
    """
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_XET_CACHE", str(home / "xet"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return home


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubDoubleServer]:
    """One server for the module, because each stop waits on uvicorn's 0.1 s tick."""
    server = HubDoubleServer(tmp_path_factory.mktemp("hub_storage"), {TOKEN})
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def repo_id(request: pytest.FixtureRequest) -> str:
    """Return a repo id of the test's own, since tests share one server."""
    name = request.node.name.removeprefix("test_").replace("_", "-")
    return f"test-user/{name}"


@pytest.fixture()
def api(hub: HubDoubleServer, hf_home: Path) -> HfApi:
    return HfApi(endpoint=hub.url, token=TOKEN)


@pytest.fixture()
def model_folder(tmp_path: Path) -> Path:
    """Return a folder with a config, ~1 MB of random weights and a model card."""
    folder = tmp_path / "model"
    folder.mkdir()
    config = {"latent_dim": 32, "image_size": 64}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(random.Random(0).randbytes(1 << 20))
    (folder / "README.md").write_text(
        "---\nlicense: mit\n---\n# SS-VAE face detector\n"
    )
    return folder


def upload_model(api: HfApi, repo_id: str, folder: Path) -> str:
    """Create `repo_id`, upload `folder` to main and return the commit sha."""
    api.create_repo(repo_id)
    return api.upload_folder(repo_id=repo_id, folder_path=folder).oid


def test_whoami_checks_token(hub: HubDoubleServer, api: HfApi) -> None:
    assert api.whoami()["name"] == "test-user"
    with pytest.raises(HfHubHTTPError) as error:
        HfApi(endpoint=hub.url).whoami(token="hf_wrong_token")
    assert error.value.response.status_code == 401


def test_create_repo_exist_ok(hub: HubDoubleServer, api: HfApi, repo_id: str) -> None:
    url = api.create_repo(repo_id)
    assert url == f"{hub.url}/{repo_id}"
    assert url.repo_id == repo_id
    assert api.repo_exists(repo_id)

    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo(repo_id)
    assert error.value.response.status_code == 409
    assert api.create_repo(repo_id, exist_ok=True) == url

    info = api.model_info(repo_id)
    assert COMMIT_SHA.fullmatch(info.sha)
    assert [sibling.rfilename for sibling in info.siblings] == [".gitattributes"]
    assert info.private is False


def test_upload_folder_download_each_file(
    tmp_path: Path, hub: HubDoubleServer, api: HfApi, model_folder: Path, repo_id: str
) -> None:
    commit_sha = upload_model(api, repo_id, model_folder)

    assert COMMIT_SHA.fullmatch(commit_sha)
    assert api.model_info(repo_id).sha == commit_sha
    assert api.list_repo_files(repo_id) == [".gitattributes", *UPLOADED_FILES]
    for filename in UPLOADED_FILES:
        path = hf_hub_download(
            repo_id,
            filename,
            endpoint=hub.url,
            token=TOKEN,
            cache_dir=tmp_path / "cache",
        )
        assert Path(path).read_bytes() == (model_folder / filename).read_bytes()
        assert Path(path).parent.name == commit_sha


def test_resolve_serves_byte_range(
    hub: HubDoubleServer, api: HfApi, model_folder: Path, repo_id: str
) -> None:
    commit_sha = upload_model(api, repo_id, model_folder)
    weights = (model_folder / "model.safetensors").read_bytes()
    url = hf_hub_url(repo_id, "model.safetensors", endpoint=hub.url)

    response = get_session().get(url, headers={"Range": "bytes=10-19"})

    assert response.status_code == 206
    assert response.content == weights[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(weights)}"
    assert response.headers["X-Repo-Commit"] == commit_sha


def test_upload_sends_files_inline(
    hub: HubDoubleServer, api: HfApi, model_folder: Path, repo_id: str
) -> None:
    upload_model(api, repo_id, model_folder)

    sent = hub.state.request_log
    assert f"POST /api/models/{repo_id}/preupload/main" in sent
    assert f"POST /api/models/{repo_id}/commit/main" in sent
    # The client asks /xet-write-token before a Xet upload and posts to
    # .git/info/lfs/objects/batch before an LFS upload.
    transfers = [line for line in sent if "/xet-" in line or "/info/lfs/" in line]
    assert transfers == []
    sizes = {
        sibling.rfilename: sibling.size
        for sibling in api.model_info(repo_id, files_metadata=True).siblings
    }
    assert sizes["model.safetensors"] == 1 << 20


def test_unchanged_upload_makes_no_commit(
    api: HfApi, model_folder: Path, repo_id: str
) -> None:
    commit_sha = upload_model(api, repo_id, model_folder)

    again = api.upload_folder(repo_id=repo_id, folder_path=model_folder)

    assert again.oid == commit_sha
    assert api.model_info(repo_id).sha == commit_sha


def test_snapshot_download_matches_folder(
    tmp_path: Path, hub: HubDoubleServer, api: HfApi, model_folder: Path, repo_id: str
) -> None:
    commit_sha = upload_model(api, repo_id, model_folder)

    snapshot = Path(
        snapshot_download(
            repo_id, endpoint=hub.url, token=TOKEN, cache_dir=tmp_path / "cache"
        )
    )

    assert snapshot.name == commit_sha
    assert snapshot.is_relative_to(tmp_path / "cache")
    names = sorted(path.name for path in snapshot.iterdir())
    assert names == [".gitattributes", *UPLOADED_FILES]
    for filename in UPLOADED_FILES:
        assert (snapshot / filename).read_bytes() == (
            model_folder / filename
        ).read_bytes()


def test_branch_upload_and_download(
    tmp_path: Path, hub: HubDoubleServer, api: HfApi, model_folder: Path, repo_id: str
) -> None:
    main_sha = upload_model(api, repo_id, model_folder)
    branch = "dev/retrain"  # a "/" in the name is sent percent-encoded

    api.create_branch(repo_id, branch=branch)
    with pytest.raises(HfHubHTTPError) as error:
        api.create_branch(repo_id, branch=branch)
    assert error.value.response.status_code == 409
    branch_sha = api.upload_file(
        path_or_fileobj=b'{"latent_dim": 64}',
        path_in_repo="config.json",
        repo_id=repo_id,
        revision=branch,
    ).oid

    assert branch_sha != main_sha
    assert api.model_info(repo_id, revision=branch).sha == branch_sha
    assert api.model_info(repo_id).sha == main_sha
    refs = {ref.name: ref.target_commit for ref in api.list_repo_refs(repo_id).branches}
    assert refs == {"main": main_sha, branch: branch_sha}
    downloads = {
        revision: hf_hub_download(
            repo_id,
            "config.json",
            revision=revision,
            endpoint=hub.url,
            token=TOKEN,
            cache_dir=tmp_path / "cache",
        )
        for revision in (branch, branch_sha, main_sha)
    }
    assert Path(downloads[branch]).read_bytes() == b'{"latent_dim": 64}'
    assert Path(downloads[branch_sha]).read_bytes() == b'{"latent_dim": 64}'
    main_config = (model_folder / "config.json").read_bytes()
    assert Path(downloads[main_sha]).read_bytes() == main_config


def test_create_commit_deletes_and_checks_parent(
    api: HfApi, model_folder: Path, repo_id: str
) -> None:
    first_sha = upload_model(api, repo_id, model_folder)

    api.create_commit(
        repo_id,
        [
            CommitOperationDelete("README.md"),
            CommitOperationAdd("weights/extra.bin", b"\x00\x01"),
        ],
        commit_message="Move weights",
        parent_commit=first_sha,
    )
    files = api.list_repo_files(repo_id)
    assert "README.md" not in files
    assert "weights/extra.bin" in files
    top_level = {entry.path for entry in api.list_repo_tree(repo_id)}
    assert "weights" in top_level
    assert "weights/extra.bin" not in top_level
    in_folder = [entry.path for entry in api.list_repo_tree(repo_id, "weights")]
    assert in_folder == ["weights/extra.bin"]

    with pytest.raises(HfHubHTTPError) as error:
        api.create_commit(
            repo_id,
            [CommitOperationAdd("notes.txt", b"stale")],
            commit_message="Stale parent",
            parent_commit=first_sha,
        )
    assert error.value.response.status_code == 412


def test_upload_with_wrong_token_is_401(
    hub: HubDoubleServer, api: HfApi, model_folder: Path, repo_id: str
) -> None:
    api.create_repo(repo_id)
    head = api.model_info(repo_id).sha
    for token in ("hf_wrong_token", False):
        intruder = HfApi(endpoint=hub.url, token=token)
        with pytest.raises(HfHubHTTPError) as error:
            intruder.upload_file(
                path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id
            )
        assert error.value.response.status_code == 401
        assert not isinstance(error.value, RepositoryNotFoundError)

    with pytest.raises(HfHubHTTPError) as error:
        HfApi(endpoint=hub.url, token="hf_wrong_token").upload_folder(
            repo_id=repo_id, folder_path=model_folder
        )
    assert error.value.response.status_code == 401
    assert api.model_info(repo_id).sha == head


def test_missing_repo_not_found(
    tmp_path: Path, hub: HubDoubleServer, api: HfApi
) -> None:
    missing = "test-user/missing-model"

    assert not api.repo_exists(missing)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(missing)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(
            missing,
            "config.json",
            endpoint=hub.url,
            token=TOKEN,
            cache_dir=tmp_path / "cache",
        )


def test_private_repo_needs_token(
    tmp_path: Path, hub: HubDoubleServer, api: HfApi, repo_id: str
) -> None:
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)
    anonymous = HfApi(endpoint=hub.url, token=False)

    assert api.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError) as error:
        anonymous.model_info(repo_id)
    assert error.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(
            repo_id,
            "config.json",
            endpoint=hub.url,
            token=False,
            cache_dir=tmp_path / "cache",
        )
    path = hf_hub_download(
        repo_id,
        "config.json",
        endpoint=hub.url,
        token=TOKEN,
        cache_dir=tmp_path / "cache",
    )
    assert Path(path).read_bytes() == b"{}"


def test_missing_file_or_revision(
    tmp_path: Path, hub: HubDoubleServer, api: HfApi, model_folder: Path, repo_id: str
) -> None:
    upload_model(api, repo_id, model_folder)

    with pytest.raises(EntryNotFoundError):
        hf_hub_download(
            repo_id,
            "missing.json",
            endpoint=hub.url,
            token=TOKEN,
            cache_dir=tmp_path / "cache",
        )
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            repo_id,
            "config.json",
            revision="no-such-branch",
            endpoint=hub.url,
            token=TOKEN,
            cache_dir=tmp_path / "cache",
        )
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="0" * 40)


def run_client_script(script: str, env: dict[str, str]) -> dict[str, Any]:
    """Run `script` in a fresh interpreter so huggingface_hub imports with `env`.

    The script prints one JSON object on its last line, which is returned.
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        check=False,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


OFFLINE_SCRIPT = """
    import json, os
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache_dir = os.environ["TEST_CACHE_DIR"]
    repo_id = os.environ["TEST_REPO_ID"]
    path = hf_hub_download(repo_id, "config.json", cache_dir=cache_dir)
    try:
        hf_hub_download(repo_id, "README.md", cache_dir=cache_dir)
        missing = "downloaded"
    except LocalEntryNotFoundError:
        missing = "LocalEntryNotFoundError"
    print(json.dumps(
        {"offline": constants.HF_HUB_OFFLINE, "path": path, "missing": missing}
    ))
"""


def test_offline_mode_reads_cache(
    tmp_path: Path,
    hf_home: Path,
    hub: HubDoubleServer,
    api: HfApi,
    model_folder: Path,
    repo_id: str,
) -> None:
    upload_model(api, repo_id, model_folder)
    cache_dir = tmp_path / "cache"
    online_path = hf_hub_download(
        repo_id, "config.json", endpoint=hub.url, token=TOKEN, cache_dir=cache_dir
    )
    requests_before = len(hub.state.request_log)

    output = run_client_script(
        OFFLINE_SCRIPT,
        {
            "HF_HUB_OFFLINE": "1",
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(hf_home),
            "TEST_CACHE_DIR": str(cache_dir),
            "TEST_REPO_ID": repo_id,
        },
    )

    assert output["offline"] is True
    assert output["path"] == online_path
    assert output["missing"] == "LocalEntryNotFoundError"
    assert len(hub.state.request_log) == requests_before


HF_ENDPOINT_SCRIPT = """
    import json, os
    from huggingface_hub import constants, hf_hub_download

    repo_id = os.environ["TEST_REPO_ID"]
    cache_dir = os.environ["TEST_CACHE_DIR"]
    path = hf_hub_download(repo_id, "config.json", cache_dir=cache_dir)
    print(json.dumps({"endpoint": constants.ENDPOINT, "path": path}))
"""


def test_fixed_port_serves_hf_endpoint(
    tmp_path: Path, hf_home: Path, model_folder: Path, repo_id: str
) -> None:
    port = find_free_port()
    endpoint = f"http://127.0.0.1:{port}"
    storage_dir = tmp_path / "hub_storage"
    with run_hub_double(storage_dir, {TOKEN}, port=port) as url:
        assert url == endpoint
        upload_model(HfApi(endpoint=url, token=TOKEN), repo_id, model_folder)
        output = run_client_script(
            HF_ENDPOINT_SCRIPT,
            {
                "HF_ENDPOINT": endpoint,
                "HF_HOME": str(hf_home),
                "HF_TOKEN": TOKEN,
                "TEST_CACHE_DIR": str(tmp_path / "cache"),
                "TEST_REPO_ID": repo_id,
            },
        )

    assert output["endpoint"] == endpoint
    config = (model_folder / "config.json").read_bytes()
    assert Path(output["path"]).read_bytes() == config
    # The same port can be served again right after the previous server stopped.
    with run_hub_double(tmp_path / "second_storage", {TOKEN}, port=port) as url:
        assert HfApi(endpoint=url, token=TOKEN).whoami()["name"] == "test-user"
