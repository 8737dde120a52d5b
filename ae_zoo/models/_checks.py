"""Input validation done before any training or inference starts.

Bad input gets a ``ValueError``/``TypeError`` that says what was wrong and what
was expected, instead of a shape error from deep inside a compiled graph.
"""

import numpy as np
import tensorflow as tf

from ae_zoo.data import ImageDataset, StreamingImageDataset


def _first(structure):
    """The first tensor of a possibly nested (x, y) structure."""
    while isinstance(structure, (tuple, list)) and structure:
        structure = structure[0]
    if isinstance(structure, dict) and structure:
        structure = next(iter(structure.values()))
    return structure


def check_array(x, expected_shape=None, value_range=None, what="x", allow_empty=False):
    """Checks a numpy array / tensor of inputs: floating dtype, finite, non-empty, shape."""
    if isinstance(x, tf.data.Dataset):
        raise TypeError(f"`{what}` is a tf.data.Dataset; this method takes arrays (numpy or "
                        "tensors): call it on each batch, e.g. np.concatenate([model.encode(x) "
                        "for x in dataset]), or pass the dataset's arrays.")
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


def _symbolic(value):
    return isinstance(value, tf.Tensor) and not hasattr(value, "numpy")


def check_labels(model, labels, count=None, what="labels"):
    """Raises a clear error for ``labels`` that ``model`` cannot take: labels given to an
    unconditional model, none given to a conditional one, and (concrete values only:
    symbolic tensors of a traced graph pass) an empty, non-integer, out-of-range array or
    one whose length is not ``count``."""
    name = type(model).__name__
    num_classes = model.num_classes if model.conditional else None
    if not model.conditional:
        if labels is not None:
            raise ValueError(f"{name} is not conditional: it takes no `{what}`.")
        return
    if labels is None:
        raise ValueError(f"{name} is conditional: pass `labels=` (one class id in "
                         f"[0, {num_classes}) per example).")
    if _symbolic(labels):
        return
    labels = np.asarray(labels)
    if labels.size == 0 and count != 0:
        raise ValueError(f"`{what}` is empty.")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.number) or not np.all(np.equal(np.mod(labels, 1), 0)):
            raise TypeError(f"`{what}` must be integer class ids, got dtype {labels.dtype}.")
    if labels.size and (labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes)):
        raise ValueError(
            f"`{what}` must be in [0, {num_classes}) for num_classes={num_classes}; "
            f"got values in [{labels.min()}, {labels.max()}].")
    if count is not None and labels.reshape(-1).shape[0] != count:
        raise ValueError(f"`{what}` has {labels.reshape(-1).shape[0]} entries for {count} "
                         "examples; pass one label per example.")


def check_count(value, what):
    """``value`` as an int >= 1, or a ValueError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{what}` must be a positive integer, got {value!r}.")
    return int(value)


#: Seeds are int64 in the exported signatures; a draw i uses seed + i.
_SEED_RANGE = (0, 2**63 - 2**32)


def check_seed(seed):
    """``seed`` (None or an int in the range the int64 seeds of a batch stay within)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not _SEED_RANGE[0] <= seed < _SEED_RANGE[1]:
        raise ValueError(f"`seed` must be None or an integer in [{_SEED_RANGE[0]}, "
                         f"{_SEED_RANGE[1]}), got {seed!r}.")
    return int(seed)


def check_model_inputs(model, x, y=None, value_range=None, what="x"):
    """Checks what fit/evaluate/predict get: the inputs ``x`` and, for a conditional model,
    its labels (``y``, or pairs in ``x`` or in a dataset), else an optional reconstruction
    target ``y`` shaped like ``x``. An ``ImageDataset`` is checked as its arrays (uint8
    images, value / 255, are in range by construction)."""
    shape = model.example_shape
    if isinstance(x, StreamingImageDataset):  # read as it trains: its shape and labels
        _check_shape(x.input_shape, shape, what)
        if model.conditional and not x.has_labels:
            raise ValueError(f"{type(model).__name__} is conditional and dataset {x.name!r} "
                             "has no labels.")
        return
    if isinstance(x, ImageDataset):
        if x.images.dtype != np.uint8:
            x = x.images
        else:  # value / 255: finite and in range by construction
            if len(x) == 0:
                raise ValueError(f"`{what}` is empty: there is nothing to train on.")
            _check_shape(x.images.shape[1:], shape, what)
            if model.conditional:
                check_labels(model, y, len(x), f"labels for {what}")
            elif y is not None:
                raise ValueError(f"{type(model).__name__} is not conditional: an ImageDataset "
                                 f"as `{what}` takes no second argument.")
            return
    if model.conditional:
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            if not isinstance(spec, (tuple, list)) or len(spec) < 2:
                raise ValueError(f"{type(model).__name__} needs a dataset of (x, labels) pairs.")
            check_dataset(x.map(lambda a, *rest: a), shape, value_range, what)
            labels = x.map(lambda a, b, *rest: b)
            if labels.cardinality() < 0:  # endless or unknown: check what can be checked
                labels = labels.take(1)
            for batch in labels:
                check_labels(model, batch.numpy(), None, f"labels in {what}")
            return
        if isinstance(x, (tuple, list)) and len(x) == 2 and y is None:
            x, y = x
        check_inputs(x, shape, value_range, what)
        if y is None:
            raise ValueError(f"{type(model).__name__} is conditional: pass labels with "
                             f"`{what}` (fit(x, labels)).")
        check_labels(model, y, len(_first(x)), f"labels for {what}")
        return
    check_inputs(x, shape, value_range, what)
    if y is None:
        return
    if isinstance(x, tf.data.Dataset) or np.shape(y) != np.shape(x):
        raise ValueError(
            f"{type(model).__name__} is not conditional: the second argument of fit/evaluate "
            f"is a reconstruction target shaped like `{what}` {np.shape(x)}, got shape "
            f"{np.shape(y)} (labels only condition a conditional model such as cvae).")
    check_inputs(y, shape, value_range, f"the target for {what}")
