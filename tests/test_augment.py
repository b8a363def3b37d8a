import torch
from PIL import Image

from ssvae.augment import ResolutionAndCrop
from ssvae.data import FlatImageDataset, load_image


def test_crop_stays_inside_image_and_keeps_min_area(test_faces):
    image = load_image(test_faces[0])
    augment = ResolutionAndCrop(crop_probability=1.0, blur_probability=0.0)
    torch.manual_seed(0)
    for _ in range(50):
        width, height = augment(image).size
        assert width <= image.width
        assert height <= image.height
        # 0.45 is the smallest crop area; 0.44 leaves room for pixel rounding.
        assert width * height >= 0.44 * image.width * image.height


def test_resolution_loss_limits_longest_side(test_faces):
    image = load_image(test_faces[0])
    augment = ResolutionAndCrop(crop_probability=0.0, blur_probability=1.0)
    torch.manual_seed(0)
    sides = [max(augment(image).size) for _ in range(50)]
    assert min(sides) >= 32
    assert max(sides) <= 96


def test_small_images_are_not_enlarged():
    image = Image.new("RGB", (20, 20), (1, 2, 3))
    augment = ResolutionAndCrop(crop_probability=0.0, blur_probability=1.0)
    assert augment(image).size == (20, 20)


def test_same_seed_gives_same_augmentation(test_faces):
    image = load_image(test_faces[0])
    augment = ResolutionAndCrop()
    torch.manual_seed(3)
    first = [augment(image).tobytes() for _ in range(5)]
    torch.manual_seed(3)
    assert [augment(image).tobytes() for _ in range(5)] == first


def test_dataset_applies_augment_before_preprocess(sample_root):
    def black(image):
        return Image.new("RGB", image.size)

    dataset = FlatImageDataset(sample_root / "test", augment=black).subset(4)
    item = dataset[0]
    # Black pixels normalise to -mean/std, the minimum of each channel.
    assert torch.allclose(item["image"][0], torch.tensor(-0.485 / 0.229))
    assert dataset.augment is black
