"""Training-time augmentation on PIL images, before resizing and normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image


@dataclass(frozen=True)
class ResolutionAndCrop:
    """Random zoom-in crops and random loss of resolution.

    In the sample data every non-face is a 64x64 Tiny ImageNet image upscaled to
    128x128, while faces are sharp 178x218 crops with background. Without this,
    a model can learn "blurry = not a face" and "loose framing = face", and
    then rejects tightly cropped or low-resolution faces. Random numbers come
    from torch, so DataLoader workers seeded by a torch.Generator repeat them.
    """

    crop_probability: float = 0.5
    min_crop_area: float = 0.45  # smallest crop, as a fraction of the image area
    blur_probability: float = 0.5
    min_side: int = 32  # the image is shrunk to a side in [min_side, max_side]
    max_side: int = 96

    def __call__(self, image: Image.Image) -> Image.Image:
        if torch.rand(()) < self.crop_probability:
            image = self._crop(image)
        if torch.rand(()) < self.blur_probability:
            side = int(torch.randint(self.min_side, self.max_side + 1, ()))
            scale = side / max(image.size)
            if scale < 1:
                small = (
                    max(1, round(image.width * scale)),
                    max(1, round(image.height * scale)),
                )
                image = image.resize(small, Image.Resampling.BILINEAR)
        return image

    def _crop(self, image: Image.Image) -> Image.Image:
        area = self.min_crop_area + (1 - self.min_crop_area) * float(torch.rand(()))
        aspect = float(torch.empty(()).uniform_(0.8, 1.25))
        width = min(
            image.width, round((area * image.width * image.height * aspect) ** 0.5)
        )
        height = min(
            image.height, round((area * image.width * image.height / aspect) ** 0.5)
        )
        left = int(torch.randint(0, image.width - width + 1, ()))
        top = int(torch.randint(0, image.height - height + 1, ()))
        return image.crop((left, top, left + width, top + height))
