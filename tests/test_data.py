"""Bundled MNIST and the local-folder datasets."""
import numpy as np
import pytest

from spikemask.data import get_dataset, list_datasets
from spikemask.data.static import load_mnist_arrays, mnist_split
from spikemask.errors import SpikemaskError


def test_bundled_mnist_is_the_real_test_set():
    images, labels = load_mnist_arrays()       # md5-verified inside
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_split_is_deterministic_disjoint_and_8000_2000():
    train, test = mnist_split(True), mnist_split(False)
    assert len(train) == 8000 and len(test) == 2000
    assert not set(train) & set(test) and set(train) | set(test) == set(range(10000))
    spec = get_dataset("mnist", train=False)
    x, y = spec.dataset[0]
    assert x.shape == (1, 28, 28) and y == 7            # MNIST test image 0 is a 7
    assert (spec.num_classes, spec.in_channels, spec.img_size) == (10, 1, 28)


def test_local_datasets_never_download_and_say_where_files_go(tmp_path):
    assert {"mnist", "cifar10", "cifar100", "imagefolder"} <= set(list_datasets())
    with pytest.raises(SpikemaskError, match="root must point at a local copy"):
        get_dataset("cifar10")
    with pytest.raises(SpikemaskError, match="cifar-10-batches-py"):
        get_dataset("cifar10", root=str(tmp_path))
    with pytest.raises(SpikemaskError, match="DIR/train/CLASS"):
        get_dataset("imagefolder", root=str(tmp_path))
    with pytest.raises(SpikemaskError, match="unknown dataset"):
        get_dataset("imagenet22k")


def test_cifar100_without_its_files_says_where_they_go(tmp_path):
    with pytest.raises(SpikemaskError, match="CIFAR-100 not found.*cifar-100-python"):
        get_dataset("cifar100", root=str(tmp_path))
