"""Input validation done before any training or inference starts.

Bad input gets a ``ValueError``/``TypeError`` that says what was wrong and what
was expected, instead of a shape error from deep inside a compiled graph.
"""

import numpy as np
import tensorflow as tf


def _first(structure):
    """The first tensor of a possibly nested (x, y) structure."""
    while isinstance(structure, (tuple, list)) and structure:
        structure = structure[0]
    if isinstance(structure, dict) and structure:
        structure = next(iter(structure.values()))
    return structure


def check_array(x, expected_shape=None, value_range=None, what="x", allow_empty=False):
    """Checks a numpy array / tensor of inputs: floating dtype, finite, non-empty, shape."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        x = x.numpy()
    elif not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (scale uint8 images with x.astype('float32') / 255)" if x.dtype == np.uint8 else ""
        raise TypeError(f"`{what}` must be a floating-point array, got dtype {x.dtype}{hint}.")
    if x.ndim < 2:
        raise ValueError(f"`{what}` must be a batch of examples (rank >= 2), got shape {x.shape}.")
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"`{what}` is empty (shape {x.shape}): there is nothing to train on.")
    _check_shape(x.shape[1:], expected_shape, what)
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"`{what}` contains {bad} NaN or infinite value(s); expected finite values.")
    if value_range is not None and x.size:
        lo, hi = value_range
        if x.min() < lo or x.max() > hi:
            raise ValueError(
                f"`{what}` has values in [{x.min():.4g}, {x.max():.4g}] but this model expects "
                f"data in [{lo}, {hi}] (reconstruction loss 'bce'); rescale the data or use "
                "reconstruction_loss='mse'."
            )


def _check_shape(shape, expected_shape, what):
    if expected_shape is None:
        return
    shape, expected = tuple(shape), tuple(expected_shape)
    compatible = len(shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(shape, expected)
    )
    if not compatible:
        raise ValueError(
            f"`{what}` has example shape {shape} but the model expects {expected} "
            "(height, width, channels for images)."
        )


def check_dataset(dataset, expected_shape=None, value_range=None, what="x"):
    """Checks a ``tf.data.Dataset``: non-empty, floating inputs of the right shape.

    Only the element spec and the first batch are inspected: a dataset is not
    iterated in full.
    """
    if dataset.cardinality() == 0:
        raise ValueError(f"The dataset passed as `{what}` is empty: there is nothing to train on.")
    spec = _first(dataset.element_spec)
    if not spec.dtype.is_floating:
        raise TypeError(f"The dataset's inputs must be floating point, got {spec.dtype.name}.")
    if spec.shape.rank is not None:
        _check_shape(spec.shape[1:], expected_shape, what)
    for batch in dataset.take(1):
        check_array(_first(batch), expected_shape, value_range, what)
        return
    raise ValueError(f"The dataset passed as `{what}` is empty: there is nothing to train on.")


def check_inputs(x, expected_shape=None, value_range=None, what="x"):
    """Validates ``x`` as given to fit/evaluate/predict; other input kinds pass through."""
    if x is None:
        raise ValueError(f"`{what}` is None; pass a batch of examples or a tf.data.Dataset.")
    if isinstance(x, tf.data.Dataset):
        check_dataset(x, expected_shape, value_range, what)
    elif isinstance(x, (np.ndarray, tf.Tensor, tf.Variable, list)):
        check_array(x, expected_shape, value_range, what)
    # Generators and keras.utils.PyDataset are checked by Keras itself.
