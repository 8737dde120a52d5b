"""Datasets for ae_zoo: in-memory `ImageDataset`s of NHWC images (``x``: float32 in [0, 1]),
and `StreamingImageDataset`s for TFDS splits larger than a memory budget.

    >>> from ae_zoo import data
    >>> ds = data.load("mnist5k", "train")
    >>> train = ds.as_tf_dataset(batch_size=128, seed=0)       # batches of x
    >>> gen = data.load("dsprites", "train", num_samples=1000).ground_truth
    >>> factors = gen.sample_factors(10, random_state=0)        # int64 [10, 5]
    >>> images = gen.sample_observations_from_factors(factors)  # float32 [10, 64, 64, 1]

Datasets with ground-truth factors (dsprites, color_dsprites, noisy_dsprites, shapes3d)
expose the disentanglement interface as ``ImageDataset.ground_truth`` (a `GroundTruthData`);
it is None otherwise.
"""

from ae_zoo.data.catalog import load, names
from ae_zoo.data.dataset import ImageDataset
from ae_zoo.data.dsprites import ColorDSprites, DSprites, NoisyDSprites
from ae_zoo.data.ground_truth import FactorLookup, GroundTruthData, as_random_state
from ae_zoo.data.streaming import StreamingImageDataset
from ae_zoo.data.tfds_adapter import DatasetNotFoundError, load_tfds

__all__ = [
    "ColorDSprites",
    "DSprites",
    "DatasetNotFoundError",
    "FactorLookup",
    "GroundTruthData",
    "ImageDataset",
    "NoisyDSprites",
    "StreamingImageDataset",
    "as_random_state",
    "load",
    "load_tfds",
    "names",
]
