"""Tiny TFDS datasets built locally (no network) to test the TFDS adapter.

Importing this module registers two builders with tensorflow_datasets:
``ae_zoo_tiny_digits`` (28x28x1 uint8 images + a 10-class label, train 12 / test 5)
and ``ae_zoo_tiny_factors`` (a complete 2 x 3 factor grid of 8x8x1 binary images
with dSprites-like 0/1 pixels, stored under the names the dSprites spec reads).
"""

import numpy as np
import tensorflow_datasets as tfds

TINY_SPLITS = {"train": 12, "test": 5}


class _LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base for builders defined in tests.

    ``code_path = None``: no checksums file to look up. It also sidesteps
    tensorflow/datasets#11212 (tfds 4.9.10 looks the builder's source up through
    ``importlib_resources``, which it does not install on Python >= 3.9).
    """

    code_path = None


def tiny_digits_examples(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The exact uint8 images [N, 28, 28, 1] and int labels [N] of one split."""
    rs = np.random.RandomState({"train": 1, "test": 2}[split])
    n = TINY_SPLITS[split]
    images = rs.randint(0, 256, size=(n, 28, 28, 1)).astype(np.uint8)
    images[0] = 0  # include both extremes
    images[1] = 255
    labels = rs.randint(0, 10, size=n)
    return images, labels


class AeZooTinyDigits(_LocalBuilder):
    """A handful of random 28x28x1 images with labels."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(28, 28, 1)),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in TINY_SPLITS}

    def _generate_examples(self, split):
        images, labels = tiny_digits_examples(split)
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image, "label": int(label)}


def tiny_factor_image(a: int, b: int) -> np.ndarray:
    """A distinct 0/1 uint8 image [8, 8, 1] for factors (a, b)."""
    image = np.zeros((8, 8, 1), np.uint8)
    image[a * 4:(a + 1) * 4, b * 2:(b + 1) * 2] = 1
    return image


class AeZooTinyFactors(_LocalBuilder):
    """Every combination of two factors (sizes 2 and 3), in a scrambled order."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 1)),
                "label_a": tfds.features.ClassLabel(num_classes=2),
                "label_b": tfds.features.ClassLabel(num_classes=3),
            }),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i, (a, b) in enumerate([(1, 2), (0, 0), (1, 0), (0, 2), (0, 1), (1, 1)]):
            yield i, {"image": tiny_factor_image(a, b), "label_a": a, "label_b": b}


def prepare(builder_cls, data_dir) -> None:
    """Generates the builder's data into ``data_dir`` without any network access."""
    config = tfds.download.DownloadConfig(try_download_gcs=False)
    builder_cls(data_dir=str(data_dir)).download_and_prepare(download_config=config)
