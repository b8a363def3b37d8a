"""Publish a trained model to the Hugging Face Hub with a full model card.

The token comes from the HF_TOKEN environment variable or `hf auth login`.

Examples:
    python -m training.push --run-id RUN_ID --repo-id OWNER/NAME
    python -m training.push --checkpoint DIR --repo-id OWNER/NAME --private
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ssvae.checkpoint import CheckpointError, read_config
from ssvae.hub import HubError, PushResult, parse_push_repo, push_folder
from ssvae.sources import download_mlflow_model
from ssvae.tracking import configure_mlflow

logger = logging.getLogger("training.push")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-id", help="MLflow run whose 'model' artifact to publish")
    source.add_argument("--checkpoint", type=Path, help="model folder to publish")
    parser.add_argument("--repo-id", required=True, help="Hub model repo, OWNER/NAME")
    parser.add_argument(
        "--private", action="store_true", help="create the repo as private"
    )
    parser.add_argument(
        "--revision",
        default=None,
        help="branch to push to, created if missing (default: main)",
    )
    parser.add_argument(
        "--commit-message", default=None, help="commit message on the Hub"
    )
    return parser.parse_args(argv)


def tag_run(run_id: str, result: PushResult) -> None:
    """Record the pushed repo and commit on the MLflow run."""
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    for key, value in {
        "hub_repo_id": result.repo_id,
        "hub_branch": result.revision,
        "hub_revision": result.commit,
        "hub_commit_url": result.url,
    }.items():
        client.set_tag(run_id, key, value)


def push(
    folder: Path,
    repo_id: str,
    run_id: str | None,
    private=False,
    revision=None,
    message=None,
) -> PushResult:
    """Push folder; tag run_id (if it is in the tracking store) with the commit."""
    result = push_folder(folder, repo_id, private, revision, message)
    if run_id:
        try:
            tag_run(run_id, result)
        except Exception as error:  # the push itself succeeded; keep its result
            logger.warning("pushed, but could not tag MLflow run %s: %s", run_id, error)
    print(f"pushed to {result.repo_id}@{result.revision}, commit {result.commit}")
    print(result.url)
    return result


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    args = parse_args(argv)
    try:
        parse_push_repo(args.repo_id)
        if args.run_id:
            folder, run_id = download_mlflow_model(args.run_id), args.run_id
        else:
            folder = args.checkpoint
            run_id = read_config(folder)[1].get("run_id")
        push(
            folder,
            args.repo_id,
            run_id,
            args.private,
            args.revision,
            args.commit_message,
        )
    except (HubError, CheckpointError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
