import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssvae.data import (
    BACKGROUND_RGB,
    FlatImageDataset,
    ImageLoadError,
    Preprocess,
    collate_skipping_invalid,
    is_face_name,
    load_attributes,
    load_image,
    split_folder,
    to_rgb,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("000123.jpg", True),
        ("9.png", True),
        ("n01443537_12.JPEG", False),
        ("face_001.jpg", False),
        ("_1.jpg", False),
    ],
)
def test_label_rule(name, expected):
    assert is_face_name(name) is expected


def test_greyscale_becomes_three_equal_channels():
    image = to_rgb(Image.new("L", (4, 4), 90))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (90, 90, 90)


def test_rgba_is_composited_onto_background():
    image = Image.new("RGBA", (2, 1), (255, 0, 0, 255))
    image.putpixel((1, 0), (0, 0, 255, 0))  # fully transparent blue
    rgb = to_rgb(image)
    assert rgb.getpixel((0, 0)) == (255, 0, 0)
    assert rgb.getpixel((1, 0)) == BACKGROUND_RGB


def test_half_transparent_rgba_blends():
    rgb = to_rgb(Image.new("RGBA", (1, 1), (0, 0, 0, 128)))
    # 50 % black over white is mid grey.
    assert all(abs(channel - 127) <= 1 for channel in rgb.getpixel((0, 0)))


def test_la_is_composited_onto_background():
    rgb = to_rgb(Image.new("LA", (1, 1), (0, 0)))
    assert rgb.getpixel((0, 0)) == BACKGROUND_RGB


def test_palette_with_transparency_uses_alpha(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 255, 0] + [0, 0, 0] * 255)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 1
    path = tmp_path / "palette.png"
    image.save(path, transparency=1)
    rgb = load_image(path)
    assert rgb.getpixel((0, 0)) == (0, 255, 0)
    assert rgb.getpixel((1, 0)) == BACKGROUND_RGB


def test_cmyk_converts_to_rgb():
    rgb = to_rgb(Image.new("CMYK", (1, 1), (0, 255, 255, 0)))
    assert rgb.getpixel((0, 0)) == (255, 0, 0)


def test_16_bit_greyscale_is_rescaled(tmp_path):
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    rgb = load_image(path)
    assert [rgb.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (4, 2), (255, 0, 0))
    image.putpixel((0, 0), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=100)
    loaded = load_image(path)
    assert loaded.size == (2, 4)


def test_broken_file_raises_image_load_error(tmp_path):
    path = tmp_path / "000001.jpg"
    path.write_bytes(b"not a jpeg")
    with pytest.raises(ImageLoadError, match="000001.jpg"):
        load_image(path)


def test_preprocess_inverse_restores_pixels(test_faces):
    preprocess = Preprocess()
    image = load_image(test_faces[0]).resize((128, 128), Image.Resampling.BILINEAR)
    tensor = preprocess(image)
    restored = preprocess.to_uint8(tensor)
    assert tensor.shape == (3, 128, 128)
    assert np.array_equal(restored, np.asarray(image))


def test_preprocess_normalises_with_imagenet_statistics():
    tensor = Preprocess()(Image.new("RGB", (8, 8), (124, 116, 104)))
    # ImageNet means are (0.485, 0.456, 0.406) = about (124, 116, 104) / 255.
    assert tensor.abs().max().item() < 0.01


def test_dataset_labels_real_sample(sample_root):
    dataset = FlatImageDataset(sample_root / "test")
    assert len(dataset) == 2000
    assert dataset.num_faces == 1000
    item = dataset[0]
    assert item["image"].shape == (3, 128, 128)
    assert item["label"].item() == 1.0
    assert dataset.files[0].name.startswith("0")


def test_face_only_view(sample_root):
    dataset = FlatImageDataset(sample_root / "test", faces_only=True)
    assert len(dataset) == 1000
    assert all(label == 1.0 for label in dataset.labels)


def test_empty_folder_error_names_folder_and_rule(tmp_path):
    with pytest.raises(ValueError, match="starts with a digit") as raised:
        FlatImageDataset(tmp_path)
    assert str(tmp_path) in str(raised.value)


def test_missing_folder_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FlatImageDataset(tmp_path / "nope")


def test_single_class_folder_is_rejected_for_training(tmp_path, test_faces):
    for path in test_faces[:3]:
        shutil.copy(path, tmp_path / path.name)
    dataset = FlatImageDataset(tmp_path)
    with pytest.raises(ValueError, match="no non-faces"):
        dataset.require_both_classes()


def test_dataset_root_without_split_names_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="train/ and test/"):
        split_folder(tmp_path, "train")


def test_unreadable_file_is_skipped_and_counted(tmp_path, test_faces, test_non_faces):
    shutil.copy(test_faces[0], tmp_path / test_faces[0].name)
    shutil.copy(test_non_faces[0], tmp_path / test_non_faces[0].name)
    (tmp_path / "000000.jpg").write_bytes(b"\xff\xd8 truncated")
    dataset = FlatImageDataset(tmp_path)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=3, collate_fn=collate_skipping_invalid
    )
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 128, 128)
    assert batch["skipped"] == [0]
    assert dataset.files[0].name == "000000.jpg"


def test_subset_keeps_class_ratio(sample_root):
    dataset = FlatImageDataset(sample_root / "train").subset(200, seed=1)
    assert len(dataset) == 200
    assert dataset.num_faces == 100


def test_subset_is_seeded(sample_root):
    full = FlatImageDataset(sample_root / "train")
    assert full.subset(50, seed=3).files == full.subset(50, seed=3).files
    assert full.subset(50, seed=3).files != full.subset(50, seed=4).files


def test_attributes_csv(sample_root):
    table = load_attributes(sample_root / "celeba_attributes.csv")
    assert table.shape == (7000, 40)
    assert table.loc["000001.jpg", "Smiling"] == 1
    assert set(np.unique(table.values)) == {0, 1}


def test_attributes_celeba_text_format(tmp_path: Path):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text("2\nSmiling Male\n000001.jpg  1 -1\n000002.jpg -1  1\n")
    table = load_attributes(path)
    assert table.loc["000001.jpg"].tolist() == [1, 0]
    assert table.loc["000002.jpg"].tolist() == [0, 1]


def test_missing_dataset_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        split_folder(tmp_path / "nowhere", "train")
