"""Static image datasets: bundled MNIST, and CIFAR-10/100 or an ImageFolder from a local ``--root``.

Nothing is ever downloaded: a missing dataset gives one line saying where to put the files.
Bundled MNIST is the real MNIST test set (10,000 images, md5-checked), split deterministically into
8,000 train / 2,000 test images: image ``i`` is a test image iff ``i % 5 == 0``.
"""
from __future__ import annotations

import gzip
import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets as tvd
from torchvision import transforms as tf
from torchvision.datasets.folder import IMG_EXTENSIONS

from spikemask.data.registry import DataSpec, register_dataset, require_root
from spikemask.errors import SpikemaskError

MNIST_FILES = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)  # MST code (FAITHFULNESS M2)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _read_idx(raw: bytes, magic: int) -> np.ndarray:
    header = np.frombuffer(raw[:4], ">i4")[0]
    if header != magic:
        raise SpikemaskError(f"MNIST file has magic {header}, expected {magic}; reinstall spikemask")
    ndim = raw[3]
    shape = tuple(np.frombuffer(raw[4:4 + 4 * ndim], ">i4"))
    return np.frombuffer(raw[4 + 4 * ndim:], np.uint8).reshape(shape)


def load_mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST test set: images ``[10000, 28, 28]`` uint8 and labels ``[10000]``, md5-verified."""
    folder = resources.files(__package__) / "mnist"
    arrays = []
    for (name, md5), magic in zip(MNIST_FILES.items(), (2051, 2049)):
        raw = (folder / name).read_bytes()
        if hashlib.md5(raw).hexdigest() != md5:
            raise SpikemaskError(f"bundled MNIST file {name} is corrupt (md5 mismatch); reinstall spikemask")
        arrays.append(_read_idx(gzip.decompress(raw), magic))
    return arrays[0], arrays[1]


def mnist_split(train: bool) -> np.ndarray:
    """Indices of the deterministic bundled-MNIST split (test: ``i % 5 == 0``; 8,000 / 2,000)."""
    idx = np.arange(10000)
    return idx[idx % 5 != 0] if train else idx[idx % 5 == 0]


class BundledMNIST(Dataset):
    """The bundled MNIST split as ``([1, 28, 28] float tensor, label)`` pairs."""

    def __init__(self, train: bool, transform: tf.Compose) -> None:
        images, labels = load_mnist_arrays()
        idx = mnist_split(train)
        self.images = torch.from_numpy(images[idx].copy())
        self.labels = torch.from_numpy(labels[idx].astype(np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i].unsqueeze(0).float().div_(255)
        return self.transform(x), int(self.labels[i])


@register_dataset("mnist")
def mnist(root: str | None = None, train: bool = True, augment: bool = True) -> DataSpec:
    """Bundled MNIST (no ``root`` needed). Training augmentation: random 2-px translation."""
    steps = [tf.RandomCrop(28, padding=2)] if (train and augment) else []
    transform = tf.Compose(steps + [tf.Normalize(MNIST_MEAN, MNIST_STD)])
    return DataSpec(BundledMNIST(train, transform), num_classes=10, in_channels=1, img_size=28)


def _cifar_transform(train: bool, augment: bool, img_size: int) -> tf.Compose:
    steps: list = [tf.ToTensor()]
    if train and augment:
        steps = [tf.RandomCrop(32, padding=4), tf.RandomHorizontalFlip()] + steps
    if img_size != 32:
        steps.append(tf.Resize(img_size, antialias=True))
    return tf.Compose(steps + [tf.Normalize(CIFAR_MEAN, CIFAR_STD)])


def _cifar(cls: type, name: str, folder: str, classes: int, root: str | None, train: bool,
           augment: bool, img_size: int) -> DataSpec:
    hint = f"extract the python version of {name} so that DIR/{folder} exists"
    path = require_root(root, name, hint)
    try:
        ds = cls(str(path), train=train, download=False, transform=_cifar_transform(train, augment, img_size))
    except RuntimeError:
        raise SpikemaskError(f"{name} not found under {path}: {hint}") from None
    return DataSpec(ds, num_classes=classes, in_channels=3, img_size=img_size)


@register_dataset("cifar10")
def cifar10(root: str | None = None, train: bool = True, augment: bool = True, img_size: int = 32) -> DataSpec:
    """CIFAR-10 from ``root/cifar-10-batches-py``; crop+flip augmentation; optional resize (MST used 224, M2)."""
    return _cifar(tvd.CIFAR10, "CIFAR-10", "cifar-10-batches-py", 10, root, train, augment, img_size)


@register_dataset("cifar100")
def cifar100(root: str | None = None, train: bool = True, augment: bool = True, img_size: int = 32) -> DataSpec:
    """CIFAR-100 from ``root/cifar-100-python``; as :func:`cifar10`."""
    return _cifar(tvd.CIFAR100, "CIFAR-100", "cifar-100-python", 100, root, train, augment, img_size)


SMALL_IMAGES = 64   # px: folders of images this small are augmented as CIFAR's are, larger ones as ImageNet's


@register_dataset("imagefolder")
def imagefolder(root: str | None = None, train: bool = True, augment: bool = True,
                img_size: int | None = None, flip: bool | None = None) -> DataSpec:
    """An ImageNet-style folder ``root/{train,val}/CLASS/*.png|jpg`` (ImageNet itself fits this layout).

    ``img_size`` (px) defaults to the first training image's shorter side when that is at most
    :data:`SMALL_IMAGES` (a CIFAR- or MNIST-sized folder), else 224. The augmentation follows the size:
    small images get CIFAR's translation (pad by 1/8 of the size, random crop), large ones ImageNet's
    ``RandomResizedCrop`` and a horizontal flip; the test split is resized and centre-cropped. ``flip``
    (None: only for large images) forces the flip on or off: small folders are often digits or
    characters, which mirroring turns into other symbols (on 28-px MNIST digits, 2 epochs of a narrow
    VGG-16, it cost 5.4 points). Images are read as RGB.
    """
    hint = "lay images out as DIR/train/CLASS/*.jpg and DIR/val/CLASS/*.jpg"
    path = require_root(root, "imagefolder", hint)
    split = path / ("train" if train else "val")
    if not split.is_dir():
        raise SpikemaskError(f"{split} does not exist; {hint}")
    try:
        ds = tvd.ImageFolder(str(split))
    except (FileNotFoundError, RuntimeError) as e:
        raise SpikemaskError(f"no images found under {split} ({e}); {hint}") from None
    if img_size is None:
        img_size = _first_image_size(path / "train")
    small = img_size <= SMALL_IMAGES
    flips = [tf.RandomHorizontalFlip()] if (not small if flip is None else flip) else []
    if train and augment and small:
        steps = [tf.Resize(img_size), tf.CenterCrop(img_size), tf.RandomCrop(img_size, padding=img_size // 8), *flips]
    elif train and augment:
        steps = [tf.RandomResizedCrop(img_size), *flips]
    else:
        steps = [tf.Resize(img_size if small else int(img_size * 256 / 224)), tf.CenterCrop(img_size)]
    ds.transform = tf.Compose(steps + [tf.ToTensor(), tf.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    return DataSpec(ds, num_classes=len(ds.classes), in_channels=3, img_size=img_size)


def _first_image_size(train_split: Path) -> int:
    """The default ``img_size``: the first training image's shorter side if at most SMALL_IMAGES px, else 224."""
    classes = sorted(d for d in train_split.iterdir() if d.is_dir()) if train_split.is_dir() else []
    first = next((f for d in classes for f in sorted(d.rglob("*")) if f.suffix.lower() in IMG_EXTENSIONS), None)
    if first is None:
        raise SpikemaskError(f"no training images under {train_split}; lay images out as DIR/train/CLASS/*.jpg")
    try:
        with Image.open(first) as im:
            side = min(im.size)
    except OSError as e:
        raise SpikemaskError(f"cannot read image {first} ({e}); remove or replace it") from None
    return side if side <= SMALL_IMAGES else 224
