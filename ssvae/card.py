"""Model card (README.md of a model folder) with Hugging Face Hub metadata."""

from __future__ import annotations

import math
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ssvae.attributes import AUROC_CONFIDENCE, MIN_ATTRIBUTE_FACES
from ssvae.checkpoint import CARD_FILE, read_config, write_atomic
from ssvae.config import ModelConfig
from ssvae.reference import Reference

CARD_TAGS = [
    "face-detection",
    "vae",
    "semi-supervised",
    "bias-analysis",
    "pytorch",
    "ssvae-bias",
]
TOP_ATTRIBUTES = 5

INTENDED_USE = """\
Research and teaching on dataset bias in face detection: train a face / not-face
classifier, then read its latent space to find which kinds of faces it handles
worse, without annotating them. The face probability is a research signal, not
an identity, age, gender or emotion estimate."""

LIMITATIONS = """\
- Trained on CelebA-style aligned celebrity face crops against Tiny ImageNet
  objects; faces that are not centred, aligned crops, and photos unlike
  celebrity press photos, are out of distribution.
- In the sample data, non-face training images are 64x64 upscaled to 128x128,
  so without `--augment` sharpness alone can carry signal: sharp non-face photos
  can score as faces and blurry or tightly cropped faces as non-faces.
- High loss and low latent density point at faces the model finds hard or rare;
  they do not by themselves show harm, and the attribute labels used to check
  them (CelebA's 40) are themselves noisy and culturally biased.
- Not for surveillance, identification or any decision about a person."""


def card_data(config: ModelConfig, training: dict) -> ModelCardData:
    metrics = training.get("metrics", {})
    data = training.get("data", {})
    datasets = [data["hub_dataset"]] if data.get("hub_dataset") else None
    return ModelCardData(
        license="mit",
        library_name="pytorch",
        tags=CARD_TAGS + [config.kind],
        datasets=datasets,
        metrics=["accuracy"],
        pipeline_tag="image-classification",
        model_name=f"ssvae-bias {config.kind}",
        # Plain metadata rather than a model-index, which needs a dataset id.
        **(
            {"val_accuracy": round(metrics["val_accuracy"], 5)}
            if "val_accuracy" in metrics
            else {}
        ),
    )


def _table(rows: list[tuple[str, object]], header=("item", "value")) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    return lines + [f"| {key} | {value} |" for key, value in rows]


def _with_interval(row, column: str) -> str:
    """Format an AUROC as 0.718 (0.682-0.754), or alone where no interval exists.

    An interval that contains 0.5 is marked, since that AUROC may be chance.
    """
    value, low = row[column], row.get(f"{column}_ci_low")
    if math.isnan(value):
        return "not ranked"
    if low is None or math.isnan(low):
        return f"{value:.3f}"
    high = row[f"{column}_ci_high"]
    chance = ", includes 0.5" if low <= 0.5 <= high else ""
    return f"{value:.3f} ({low:.3f}-{high:.3f}{chance})"


def _attribute_lines(table) -> list[str]:
    """Return the card's attribute rankings: the top attributes of each ranking."""
    columns = ["attribute", "prevalence", "auroc_low_density", "auroc_high_loss"]
    ranked = table.dropna(subset=["auroc_low_density"])
    lines = []
    has_intervals = "auroc_low_density_ci_low" in table
    measure = (
        f"AUROC with its {AUROC_CONFIDENCE * 100:.0f} % interval"
        if has_intervals
        else "AUROC"
    )
    for column, ranking in (
        ("auroc_low_density", "low latent density"),
        ("auroc_high_loss", "high loss"),
    ):
        top = ranked.sort_values(column, ascending=False).head(TOP_ATTRIBUTES)
        lines += [
            f"Attributes best retrieved by {ranking} ({measure}; 0.5 = chance):",
            "",
            "| " + " | ".join(columns) + " |",
            "| " + " | ".join("---" for _ in columns) + " |",
        ]
        lines += [
            f"| {row['attribute']} | {row['prevalence']:.3f} "
            f"| {_with_interval(row, 'auroc_low_density')} "
            f"| {_with_interval(row, 'auroc_high_loss')} |"
            for _, row in top.iterrows()
        ]
        lines.append("")
    if len(ranked) < len(table):
        lines += [
            f"{len(table) - len(ranked)} of {len(table)} attributes are not ranked: "
            f"too few analysed faces have them, or lack them "
            f"(fewer than {MIN_ATTRIBUTE_FACES}).",
            "",
        ]
    if has_intervals and len(ranked):
        intervals = 2 * len(ranked)
        lines += [
            "The intervals (DeLong's method) hold for one AUROC at a time: among "
            f"{intervals} intervals (2 rankings of {len(ranked)} attributes) with "
            "no real effect behind them, about "
            f"{(1 - AUROC_CONFIDENCE) * intervals:.0f} would still "
            "exclude 0.5 by chance.",
            "",
        ]
    return lines


def _bias_section(reference: Reference | None, plots: list[str]) -> list[str]:
    if reference is None:
        return [
            "No bias analysis has been run on this model yet "
            "(`python -m training.analyze`)."
        ]
    lines = [f"Analysed faces: {reference.description}.", ""]
    if reference.attribute_table is not None:
        lines += _attribute_lines(reference.attribute_table)
        labels = reference.dim_labels()
        if labels:
            named = "; ".join(
                f"dim {d} ≈ {label}" for d, label in sorted(labels.items())
            )
            lines += [f"Latent dims with a clear attribute correlation: {named}.", ""]
    lines += [f"![{Path(plot).stem.replace('_', ' ')}]({plot})" for plot in plots]
    return lines


def render_card(folder: str | Path, plots: list[str] | None = None) -> str:
    """Return the Markdown card of a model folder from its config and reference."""
    config, training = read_config(folder)
    reference = Reference.load(folder)
    metrics = training.get("metrics", {})
    title = "SS-VAE face detector" if config.kind == "ssvae" else "CNN face detector"
    body = [
        f"# {title} (ssvae-bias)",
        "",
        "A face / not-face classifier trained with ssvae-bias. The folder holds",
        "`config.json` (architecture, normalisation, training record) and",
        "`model.safetensors`; `reference.npz`, when present, holds the bias",
        "analysis of reference faces. Load it with `ssvae.checkpoint.load_checkpoint`,",
        "or serve it with `python demo/app.py --checkpoint MODEL_DIR` (or",
        "`--hub-repo OWNER/NAME` once it is on the Hub).",
        "",
        "## Training command and data",
        "",
        "```bash",
        training.get("command", "(not recorded)"),
        "```",
        "",
        *_table(list(training.get("data", {}).items()) or [("data", "(not recorded)")]),
        "",
        "## Validation metrics",
        "",
        "Measured on the dataset's held-out `test/` split after the last epoch.",
        "",
        *_table(
            [(name, f"{value:.4f}") for name, value in metrics.items()],
            ("metric", "value"),
        ),
        "",
        "## Bias findings",
        "",
        *_bias_section(reference, plots or []),
        "",
        "## Intended use",
        "",
        INTENDED_USE,
        "",
        "## Limitations",
        "",
        LIMITATIONS,
    ]
    content = (
        f"---\n{card_data(config, training).to_yaml()}\n---\n\n"
        + "\n".join(body)
        + "\n"
    )
    return str(ModelCard(content))


def write_card(folder: str | Path, plots: list[str] | None = None) -> Path:
    path = Path(folder) / CARD_FILE
    text = render_card(folder, plots)
    write_atomic(
        path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8")
    )
    return path
