"""Image loading and datasets over flat folders of faces and non-faces.

Label rule: a file whose name starts with a digit is a face (CelebA
`000123.jpg`); any other image file is not a face (Tiny ImageNet
`n01443537_12.JPEG`). A dataset root holds `train/` and `test/` in that layout.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from ssvae.config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
NAMING_RULE = (
    "a file whose name starts with a digit is a face (e.g. 000123.jpg), "
    "any other image file is not a face (e.g. n01443537_12.JPEG)"
)
# Transparent pixels are composited onto this colour (white), so an RGBA logo
# does not turn black where its alpha is zero.
BACKGROUND_RGB = (255, 255, 255)


class ImageLoadError(ValueError):
    """An image file that PIL cannot open or decode."""


def is_face_name(name: str) -> bool:
    return name[:1].isdigit()


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a PIL image of any common mode to 8-bit RGB.

    Applies the EXIF orientation, composites transparency onto BACKGROUND_RGB,
    and rescales 16-bit and 32-bit greyscale to 0-255 (a plain convert would
    clip everything above 255 to white).
    """
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" or mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND_RGB + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_depth_to_rgb(image)
    if mode == "1":
        image = image.convert("L")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.float64)
    if image.mode == "F" and values.size and values.max() <= 1.0:
        values = values * 255.0  # float images in [0, 1]
    elif image.mode != "F" and values.size and values.max() > 255:
        values = values / 257.0  # 16-bit range 0-65535 to 0-255
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")


def load_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB; raise ImageLoadError naming the file if it fails."""
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(f"cannot read image {path}: {error}") from error


@dataclass(frozen=True)
class Preprocess:
    """Square resize and per-channel normalisation; `inverse` undoes the latter."""

    image_size: int = 128
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD

    @classmethod
    def from_config(cls, config: ModelConfig) -> Preprocess:
        """Return the input pipeline of a model: its image size and normalisation."""
        return cls(config.image_size, config.mean, config.std)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """Return a (3, image_size, image_size) float tensor from an RGB image.

        The image is stretched to a square (no crop), as in the reference model.
        """
        image = to_rgb(image).resize(
            (self.image_size, self.image_size), Image.Resampling.BILINEAR
        )
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)
        pixels = pixels.permute(2, 0, 1)
        return (pixels - self._column(self.mean)) / self._column(self.std)

    def inverse(self, tensor: torch.Tensor) -> torch.Tensor:
        """Map normalised images (…, 3, H, W) back to [0, 1] pixel values."""
        mean = self._column(self.mean).to(tensor.device)
        std = self._column(self.std).to(tensor.device)
        return (tensor * std + mean).clamp(0.0, 1.0)

    def to_uint8(self, tensor: torch.Tensor) -> np.ndarray:
        """Convert one normalised image (3, H, W) to an (H, W, 3) uint8 array."""
        pixels = self.inverse(tensor.detach().float().cpu()).permute(1, 2, 0)
        return (pixels.numpy() * 255.0).round().astype(np.uint8)

    @staticmethod
    def _column(values: Sequence[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32).view(3, 1, 1)


def list_images(folder: str | Path) -> list[Path]:
    """Return the image files directly inside folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"image folder {folder} does not exist or is not a folder: pass a "
            "folder that holds the images directly (no class subfolders)"
        )
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
    )


class FlatImageDataset(Dataset):
    """Images of one flat folder, labelled by file name (1 = face, 0 = not a face).

    An item is a dict with "image" (normalised tensor), "label" (float), "index"
    and "valid". A file that cannot be decoded yields valid=False and a zero
    image; collate_skipping_invalid drops it, so one bad file never stops an
    epoch. faces_only=True keeps only the faces (the view used for analysis).
    augment, if given, transforms each decoded PIL image before preprocessing.
    """

    def __init__(
        self,
        folder: str | Path,
        preprocess: Preprocess | None = None,
        faces_only: bool = False,
        files: Sequence[Path] | None = None,
        hflip: bool = False,
        augment: Callable[[Image.Image], Image.Image] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.preprocess = preprocess or Preprocess()
        self.hflip = hflip
        self.augment = augment
        all_files = list(files) if files is not None else list_images(self.folder)
        if faces_only:
            all_files = [path for path in all_files if is_face_name(path.name)]
        self.files = all_files
        self.labels = [1.0 if is_face_name(path.name) else 0.0 for path in self.files]
        if not self.files:
            kind = "face images" if faces_only else "images"
            raise ValueError(
                f"no {kind} found in {self.folder} (extensions "
                f"{sorted(IMAGE_EXTENSIONS)}); naming rule: {NAMING_RULE}"
            )

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_faces(self) -> int:
        return int(sum(self.labels))

    def require_both_classes(self) -> None:
        """Raise if the folder lacks faces or non-faces, which training needs."""
        faces = self.num_faces
        if faces == 0 or faces == len(self.files):
            missing = "faces" if faces == 0 else "non-faces"
            raise ValueError(
                f"{self.folder} contains {len(self.files)} images but no {missing}; "
                f"a classifier needs both. Naming rule: {NAMING_RULE}"
            )

    def subset(self, limit: int | None, seed: int = 0) -> FlatImageDataset:
        """Return a seeded subset of at most `limit` images, keeping the class ratio."""
        if limit is None or limit >= len(self.files):
            return self
        rng = random.Random(seed)
        faces = [path for path in self.files if is_face_name(path.name)]
        others = [path for path in self.files if not is_face_name(path.name)]
        face_count = round(limit * len(faces) / len(self.files))
        if faces and others:
            face_count = min(max(face_count, 1), limit - 1)
        chosen = rng.sample(faces, min(face_count, len(faces)))
        chosen += rng.sample(others, min(limit - len(chosen), len(others)))
        return FlatImageDataset(
            self.folder,
            self.preprocess,
            files=sorted(chosen),
            hflip=self.hflip,
            augment=self.augment,
        )

    def __getitem__(self, index: int) -> dict:
        path = self.files[index]
        try:
            image = load_image(path)
            if self.augment is not None:
                image = self.augment(image)
            image = self.preprocess(image)
            valid = True
        except ImageLoadError as error:
            logger.warning("skipping unreadable image: %s", error)
            size = self.preprocess.image_size
            image = torch.zeros(3, size, size)
            valid = False
        if self.hflip and valid and torch.rand(()) < 0.5:
            image = torch.flip(image, dims=[2])
        return {
            "image": image,
            "label": torch.tensor(self.labels[index]),
            "index": index,
            "valid": valid,
        }


def inference_workers() -> int:
    """Return how many loader processes batched inference should use.

    0 on a machine with 2 cores or fewer: on 2 cores, 2 workers were
    measured slower than decoding in the main process, because they compete
    with the model's threads (BENCHMARKS.md). Otherwise all cores but 2, at
    most 4. That limit is an estimate: 4 workers decode about 4,000 faces/s
    at the 1 ms per face measured on one AMD EPYC core.
    """
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores - 2)


def collate_skipping_invalid(items: list[dict]) -> dict:
    """Stack the valid items of a batch; "skipped" lists the indices of the others."""
    valid = [item for item in items if item["valid"]]
    skipped = [item["index"] for item in items if not item["valid"]]
    if not valid:
        return {"image": None, "label": None, "index": [], "skipped": skipped}
    return {
        "image": torch.stack([item["image"] for item in valid]),
        "label": torch.stack([item["label"] for item in valid]),
        "index": [item["index"] for item in valid],
        "skipped": skipped,
    }


def split_folder(root: str | Path, split: str) -> Path:
    """Return root/split, with an error that explains the expected layout."""
    if not Path(root).is_dir():
        raise FileNotFoundError(
            f"dataset root {root} does not exist or is not a folder: pass a folder "
            "that holds train/ and test/"
        )
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"dataset root {root} has no {split}/ folder: the root must hold "
            f"train/ and test/, each a flat folder of images where {NAMING_RULE}"
        )
    return folder


def load_attributes(path: str | Path) -> pd.DataFrame:
    """Read a face attribute table indexed by file name, with values 0/1.

    Accepts CSV with an `image_id` (or first) column and one column per
    attribute, or CelebA's `list_attr_celeba.txt` (a count line, the attribute
    names, then rows of file name and -1/1 values). -1 becomes 0.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attribute table {path} not found")
    with open(path, encoding="utf-8") as handle:
        first_line = handle.readline().strip()
    if first_line.isdigit():
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        names = lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
        table = pd.DataFrame(
            [[int(value) for value in row[1:]] for row in rows],
            index=[row[0] for row in rows],
            columns=names,
        )
    else:
        table = pd.read_csv(path)
        id_column = "image_id" if "image_id" in table.columns else table.columns[0]
        table = table.set_index(id_column)
    table.index = table.index.astype(str)
    table.index.name = "image_id"
    return (table > 0).astype(np.int8)
