"""Publish model folders to the Hugging Face Hub and load them back.

The token comes from HF_TOKEN or the user's `hf auth login`, never from an
argument. HF_ENDPOINT (another Hub, or a test double) must be set before
huggingface_hub is imported, because the library reads it at import time.

NOTE: the tests run against a local test double of the Hub's HTTP API that
follows huggingface_hub 2.4.0's client, not against huggingface.co.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from ssvae.card import write_card
from ssvae.checkpoint import (
    CARD_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_checkpoint,
)
from ssvae.plots import (
    accuracy_curve_plot,
    attribute_auroc_plot,
    image_grid,
    latent_histograms,
)
from ssvae.reference import REFERENCE_FILE, Reference

logger = logging.getLogger(__name__)

MODEL_FILES = [CONFIG_FILE, WEIGHTS_FILE, REFERENCE_FILE, CARD_FILE]
PLOTS_FOLDER = "plots"
PULL_PATTERNS = [CONFIG_FILE, WEIGHTS_FILE, REFERENCE_FILE, CARD_FILE]


class HubError(RuntimeError):
    """A Hub operation failed; the message names the repo and what to do."""


@dataclass
class PushResult:
    repo_id: str
    revision: str  # branch pushed to
    commit: str  # commit sha of the upload
    url: str


def parse_repo(spec: str) -> tuple[str, str | None]:
    """Split "owner/name[@revision]" into (repo_id, revision or None)."""
    repo_id, _, revision = spec.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(
            f"invalid Hub repo {spec!r}: expected OWNER/NAME or OWNER/NAME@REVISION"
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise HubError(f"invalid Hub repo id {repo_id!r}: {error}") from error
    return repo_id, revision or None


def parse_push_repo(repo_id: str) -> str:
    """Validate a repo id to push to; the branch goes in a separate option."""
    repo, revision = parse_repo(repo_id)
    if revision is not None:
        raise HubError(
            f"invalid Hub repo {repo_id!r} to push to: give OWNER/NAME and pass the "
            f"branch {revision!r} with --revision"
        )
    return repo


def write_plots(reference: Reference | None, folder: Path) -> list[str]:
    """Draw the card's key plots from the reference; return their relative paths."""
    if reference is None:
        return []
    (folder / PLOTS_FOLDER).mkdir(exist_ok=True)
    figures = {
        "latent_histograms.png": latent_histograms(
            reference.scores.z_means, labels=reference.dim_labels()
        ),
        "accuracy_curve.png": accuracy_curve_plot(reference.curve),
    }
    table = reference.scores.table
    for name, column in (
        ("highest_loss", "total_loss"),
        ("lowest_density", "log_density"),
    ):
        indices, thumbs = reference.galleries[name]
        titles = [f"{table[column].iloc[i]:.2f}" for i in indices]
        figures[f"{name}_faces.png"] = image_grid(
            thumbs, titles, f"{name.replace('_', ' ')} faces ({column})"
        )
    if reference.attribute_table is not None:
        figures["attribute_auroc.png"] = attribute_auroc_plot(reference.attribute_table)
    paths = []
    for name, figure in figures.items():
        figure.savefig(folder / PLOTS_FOLDER / name, dpi=100)
        plt.close(figure)
        paths.append(f"{PLOTS_FOLDER}/{name}")
    return paths


def push_folder(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
) -> PushResult:
    """Upload a model folder, its key plots and a full model card in one commit."""
    folder = Path(folder)
    parse_push_repo(repo_id)
    load_checkpoint(folder)  # never publish a folder that does not load
    api = HfApi()
    with tempfile.TemporaryDirectory(prefix="ssvae-push-") as staging_name:
        staging = Path(staging_name)
        for name in MODEL_FILES:
            if (folder / name).is_file():
                shutil.copy2(folder / name, staging / name)
        plots = write_plots(Reference.load(folder), staging)
        write_card(staging, plots)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision and revision != hub_constants.DEFAULT_REVISION:
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            info = api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                revision=revision,
                commit_message=commit_message or "Upload ssvae-bias model",
            )
        except Exception as error:
            raise _hub_error(error, repo_id, revision, "push to") from error
    branch = revision or hub_constants.DEFAULT_REVISION
    logger.info("pushed %s to %s@%s (commit %s)", folder, repo_id, branch, info.oid)
    return PushResult(repo_id, branch, info.oid, info.commit_url)


def download_model(repo_id: str, revision: str | None = None) -> Path:
    """Download a model folder into the standard HF cache and return its path.

    With HF_HUB_OFFLINE=1 the folder comes from the cache alone. Only JSON,
    safetensors, npz and Markdown files are fetched: pickle weights never are.
    """
    try:
        path = Path(
            snapshot_download(repo_id, revision=revision, allow_patterns=PULL_PATTERNS)
        )
    except Exception as error:
        raise _hub_error(error, repo_id, revision, "download from") from error
    if not (path / WEIGHTS_FILE).is_file():
        raise HubError(
            f"Hub repo {repo_id} at revision {revision or 'main'} has no "
            f"{WEIGHTS_FILE}: "
            "ssvae loads safetensors weights only and never pickle files "
            "(.bin, .pt, .ckpt); push the model with `python -m training.push`"
        )
    return path


def _hub_error(
    error: Exception, repo_id: str, revision: str | None, action: str
) -> HubError:
    where = f"{repo_id}@{revision or 'main'}"
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, RevisionNotFoundError):
        hint = f"revision {revision!r} not found: check the branch, tag or commit"
    elif isinstance(error, RepositoryNotFoundError):
        hint = (
            "repository not found, or private and your token cannot read it: check "
            "the name, then set HF_TOKEN or run `hf auth login`"
        )
    elif status in (401, 403):
        hint = (
            f"not authorised (HTTP {status}): set HF_TOKEN to a token with write "
            "access, or run `hf auth login`"
        )
    elif isinstance(error, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
        hint = (
            "the Hub is unreachable or HF_HUB_OFFLINE=1 is set, and the files are "
            "not in the local cache: connect once without HF_HUB_OFFLINE to fill "
            f"the cache ({hub_constants.HF_HUB_CACHE})"
        )
    elif isinstance(error, EntryNotFoundError):
        hint = "a required file is missing in the repo: push the model again"
    elif isinstance(error, HfHubHTTPError):
        hint = f"the Hub answered HTTP {status}: try again later"
    else:
        hint = (
            f"the Hub at {hub_constants.ENDPOINT} could not be reached "
            f"({type(error).__name__}): check the network or HF_ENDPOINT"
        )
    return HubError(f"could not {action} Hub repo {where}: {hint}. Details: {error}")
