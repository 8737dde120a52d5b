"""Do samples look like the data? FID, KID and precision/recall on features of images.

The metrics are pure functions of two feature arrays (rows are examples), so anyone can
check them; :func:`generation_metrics` computes the features of two sets of images with
a feature network first. The shipped feature networks (:mod:`ae_zoo.evaluation.
feature_networks`) are small classifiers of the embedded datasets; any Keras model (or
callable) mapping images to features can be passed instead, e.g. an Inception network
through :func:`feature_extractor`.

* FID (Heusel et al. 2017): the Fréchet distance of the Gaussian fits,
  |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). It is biased upwards with few
  samples (compare FIDs of equal sample counts and feature networks only).
* KID (Bińkowski et al. 2018): the unbiased MMD^2 under the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, averaged over random subsets, with the standard deviation of
  the subset estimates.
* Precision and recall (Kynkäänniemi et al. 2019): the share of generated samples inside
  the real manifold (the union of balls around each real feature reaching its k-th nearest
  real neighbour), and the share of real samples inside the generated manifold.
"""

import collections

import keras
import numpy as np
from keras import ops

from ae_zoo.evaluation import feature_networks

#: Precision/recall neighbourhood size of Kynkäänniemi et al.
DEFAULT_K = 3
KID_SUBSETS = 100
#: Largest KID subset (Bińkowski et al. use 1,000); at most half of the smaller set.
KID_MAX_SUBSET = 1000
_ROWS = 1024  # rows of a pairwise-distance block

KernelDistance = collections.namedtuple("KernelDistance", "value std num_subsets subset_size")
KernelDistance.__doc__ = ("KID: ``value`` the mean of the per-subset unbiased MMD^2 estimates, "
                          "``std`` their standard deviation (the standard error of one subset's "
                          "estimate, the +- of Bińkowski et al.).")


def _features(x, what):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`{what}` must be a 2-D array (examples, features), got shape {x.shape}")
    if len(x) < 2:
        raise ValueError(f"`{what}` needs at least 2 examples, got {len(x)}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{what}` has NaN or infinite values")
    return x


def _pair(a, b, names=("features_a", "features_b")):
    a, b = _features(a, names[0]), _features(b, names[1])
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"`{names[0]}` and `{names[1]}` have {a.shape[1]} and {b.shape[1]} "
                         "features: they must come from the same feature network")
    return a, b


def _psd_sqrt(matrix):
    """The symmetric square root of a symmetric positive semi-definite matrix (eigenvalues
    below 0 from rounding are set to 0)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(features_a, features_b):
    """FID: ``|mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^(1/2))`` (Heusel et al. 2017)
    between Gaussian fits (mean, covariance with ddof=1) of two feature arrays (N, d).

    Tr((S_a S_b)^(1/2)) is computed as Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)), the same
    number (the two matrices are similar) from symmetric eigendecompositions only: no
    complex parts and no failure on singular covariances (fewer samples than features).
    """
    a, b = _pair(features_a, features_b)
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    middle = 0.5 * (middle + middle.T)
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


def _cubic_kernel(x, y):
    k = x @ y.T / x.shape[1] + 1.0
    return k * k * k


def _subset_sums(x, y, in_x, in_y):
    """For every subset pair s: sum over i in subset s of x, j in subset s of y of k(x_i, y_j);
    ``in_x``, ``in_y``: 0/1 membership (subsets, rows). The kernel is computed once, in
    blocks of rows, instead of once per subset."""
    total = np.zeros(len(in_x))
    for start in range(0, len(x), _ROWS):
        block = _cubic_kernel(x[start:start + _ROWS], y)
        total += np.sum(in_x[:, start:start + _ROWS] * (in_y @ block.T), axis=1)
    return total


def kernel_distance(features_a, features_b, num_subsets=KID_SUBSETS, subset_size=None, seed=0):
    """KID (Bińkowski et al. 2018): the unbiased MMD^2 between two feature arrays under the
    cubic polynomial kernel k(x, y) = (x.y / d + 1)^3,

        MMD^2_u = sum_{i != j} k(a_i, a_j) / (m (m - 1)) + sum_{i != j} k(b_i, b_j) / (m (m - 1))
                  - 2 sum_{i, j} k(a_i, b_j) / m^2,

    averaged over ``num_subsets`` pairs of random subsets of m = ``subset_size`` rows of each
    (drawn without replacement, a's then b's for each pair in turn, from
    ``numpy.random.default_rng(seed)``; default m: 1,000, at most half of the smaller set).
    Returns a :class:`KernelDistance` (value, std, num_subsets, subset_size)."""
    a, b = _pair(features_a, features_b)
    limit = min(len(a), len(b))
    if subset_size is None:
        subset_size = max(2, min(KID_MAX_SUBSET, limit // 2))
    if isinstance(subset_size, bool) or not 2 <= int(subset_size) <= limit:
        raise ValueError(f"subset_size must be an integer in [2, {limit}], got {subset_size!r}")
    if isinstance(num_subsets, bool) or int(num_subsets) < 1:
        raise ValueError(f"num_subsets must be a positive integer, got {num_subsets!r}")
    m, count = int(subset_size), int(num_subsets)
    rng = np.random.default_rng(seed)
    in_a, in_b = np.zeros((count, len(a))), np.zeros((count, len(b)))
    for s in range(count):
        in_a[s, rng.choice(len(a), m, replace=False)] = 1.0
        in_b[s, rng.choice(len(b), m, replace=False)] = 1.0
    diag_a = in_a @ ((a * a).sum(1) / a.shape[1] + 1.0) ** 3
    diag_b = in_b @ ((b * b).sum(1) / b.shape[1] + 1.0) ** 3
    estimates = ((_subset_sums(a, a, in_a, in_a) - diag_a) / (m * (m - 1))
                 + (_subset_sums(b, b, in_b, in_b) - diag_b) / (m * (m - 1))
                 - 2.0 * _subset_sums(a, b, in_a, in_b) / (m * m))
    std = float(np.std(estimates, ddof=1)) if count > 1 else 0.0
    return KernelDistance(float(np.mean(estimates)), std, count, m)


def _pairwise_distances(x, y):
    """Euclidean distances (len(x), len(y)) from |x|^2 + |y|^2 - 2 x.y."""
    squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.clip(squared, 0.0, None))


def _knn_radii(x, k):
    """Distance from each row of ``x`` to its k-th nearest other row."""
    radii = np.empty(len(x))
    for start in range(0, len(x), _ROWS):
        block = _pairwise_distances(x[start:start + _ROWS], x)
        # position 0 of each sorted row is the point itself (distance 0)
        radii[start:start + _ROWS] = np.partition(block, k, axis=1)[:, k]
    return radii


def _coverage(manifold, radii, queries):
    """Share of ``queries`` within radius_i of some manifold point i."""
    inside = 0
    for start in range(0, len(queries), _ROWS):
        block = _pairwise_distances(queries[start:start + _ROWS], manifold)
        inside += int(np.sum(np.any(block <= radii[None, :], axis=1)))
    return inside / len(queries)


def precision_recall(real_features, fake_features, k=DEFAULT_K):
    """Improved precision and recall (Kynkäänniemi et al. 2019), ``(precision, recall)``.

    Each set's manifold is the union of the balls around its points reaching their k-th
    nearest neighbour within the set; precision is the share of fake points inside the
    real manifold, recall the share of real points inside the fake manifold.
    """
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"))
    if isinstance(k, bool) or not 1 <= int(k) < min(len(real), len(fake)):
        raise ValueError(f"k must be an integer in [1, {min(len(real), len(fake)) - 1}] (fewer "
                         f"than the examples of each set), got {k!r}")
    precision = _coverage(real, _knn_radii(real, int(k)), fake)
    recall = _coverage(fake, _knn_radii(fake, int(k)), real)
    return float(precision), float(recall)


def feature_metrics(real_features, fake_features, k=DEFAULT_K, kid_subsets=KID_SUBSETS,
                    kid_subset_size=None, seed=0):
    """FID, KID (with its std over subsets), precision and recall of two feature arrays, with
    the sample counts and the feature dimension they were computed on."""
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"))
    kid = kernel_distance(real, fake, kid_subsets, kid_subset_size, seed)
    precision, recall = precision_recall(real, fake, k)
    return {"fid": frechet_distance(real, fake), "kid": kid.value, "kid_std": kid.std,
            "precision": precision, "recall": recall, "num_real": len(real),
            "num_generated": len(fake), "feature_dim": int(real.shape[1]), "k": int(k),
            "kid_subsets": kid.num_subsets, "kid_subset_size": kid.subset_size}


def generation_metrics(real_images, generated_images, feature_network="mnist5k", k=DEFAULT_K,
                       kid_subsets=KID_SUBSETS, kid_subset_size=None, seed=0, batch_size=256):
    """:func:`feature_metrics` of two image sets (float32 NHWC in [0, 1]) on the features of
    ``feature_network``: a shipped network's name (``"mnist5k"``, ``"dsprites"``), a path
    to a ``.keras`` file, a Keras model or a callable mapping a batch of images to features.
    The result also names the network (``feature_network``).

    Example:
        >>> test = ae_zoo.data.load("mnist5k", "test")
        >>> generation_metrics(test.x, vae.sample(1000, seed=0), "mnist5k")["fid"]
    """
    network = feature_networks.resolve(feature_network)
    real = network.features(real_images, batch_size=batch_size, what="real_images")
    fake = network.features(generated_images, batch_size=batch_size, what="generated_images")
    result = feature_metrics(real, fake, k, kid_subsets, kid_subset_size, seed)
    result["feature_network"] = network.describe()
    return result


class _Extractor:
    """Images in [0, 1] -> resized, channel-matched, preprocessed -> ``model`` -> features."""

    def __init__(self, model, image_size, preprocess):
        self.model, self.image_size, self.preprocess = model, image_size, preprocess

    def __call__(self, images):
        x = ops.convert_to_tensor(images, "float32")
        if self.image_size is not None:
            x = ops.image.resize(x, tuple(self.image_size), interpolation="bilinear")
        channels = self.model.input_shape[-1] if getattr(self.model, "input_shape", None) else None
        if channels == 3 and x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if self.preprocess is not None:
            x = self.preprocess(x * 255.0)
        return self.model(x, training=False)


def feature_extractor(model, image_size=None, preprocess=None):
    """A feature network from a Keras model built for other images: images in [0, 1] are
    resized to ``image_size`` (bilinear), grey images repeated to 3 channels when the model
    takes 3, and, with ``preprocess``, scaled to [0, 255] and passed through it (Keras
    applications' ``preprocess_input`` expects that). The standard Inception FID features:

        >>> inception = keras.applications.InceptionV3(include_top=False, pooling="avg")
        >>> network = feature_extractor(inception, (299, 299),
        ...                             keras.applications.inception_v3.preprocess_input)
        >>> generation_metrics(real, fake, feature_network=network)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a Keras model, got {type(model).__name__}")
    return _Extractor(model, image_size, preprocess)
