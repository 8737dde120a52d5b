"""What the disentanglement metrics share: checking the ground-truth interface and the
representation function, rendering and encoding observations in batches, and the discrete
information estimates (histogram bins, entropy, mutual information)."""

import numbers

import numpy as np

_REQUIRED_ATTRIBUTES = ("factor_sizes", "sample_factors", "sample_observations_from_factors")
_DEFAULT_BATCH_SIZE = 64
_DEFAULT_NUM_BINS = 20


# --------------------------------------------------------------------------- validation


def _check_random_state(random_state):
    """A ``np.random.RandomState`` from a RandomState or an int seed."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise TypeError(
        "random_state must be a np.random.RandomState or an int seed, got "
        f"{type(random_state).__name__}."
    )


def _check_ground_truth_data(ground_truth_data):
    """The factor sizes, after checking the ground-truth data interface."""
    for name in _REQUIRED_ATTRIBUTES:
        if not hasattr(ground_truth_data, name):
            raise TypeError(
                f"ground_truth_data ({type(ground_truth_data).__name__}) has no attribute "
                f"{name!r}; it needs factor_sizes, sample_factors(num, random_state) and "
                "sample_observations_from_factors(factors, random_state)."
            )
    for name in _REQUIRED_ATTRIBUTES[1:]:
        if not callable(getattr(ground_truth_data, name)):
            raise TypeError(f"ground_truth_data.{name} must be callable.")
    try:
        sizes = [int(s) for s in ground_truth_data.factor_sizes]
        if any(s != f for s, f in zip(sizes, ground_truth_data.factor_sizes)):
            raise TypeError
    except TypeError:
        raise TypeError(
            "ground_truth_data.factor_sizes must be a sequence of ints, got "
            f"{ground_truth_data.factor_sizes!r}."
        ) from None
    if not sizes:
        raise ValueError("ground_truth_data.factor_sizes is empty; at least one factor is needed.")
    for k, size in enumerate(sizes):
        if size < 2:
            raise ValueError(
                f"factor {k} has size {size}; a constant factor carries no information and "
                "makes the metrics undefined. Expose only the varying factors (as "
                "disentanglement_lib's dSprites drops its single colour)."
            )
    return np.asarray(sizes, dtype=np.int64)


def _check_representation_function(representation_function):
    if not callable(representation_function):
        raise TypeError(
            "representation_function must be callable (observations [num, ...] -> codes "
            f"[num, D]), got {type(representation_function).__name__}."
        )


def _check_positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _setup(ground_truth_data, representation_function, random_state, batch_size, **counts):
    """Validate the common arguments; returns (factor_sizes, RandomState)."""
    sizes = _check_ground_truth_data(ground_truth_data)
    _check_representation_function(representation_function)
    _check_positive_int("batch_size", batch_size)
    for name, value in counts.items():
        _check_positive_int(name, value, minimum=2)
    return sizes, _check_random_state(random_state)


# --------------------------------------------------------------------------- sampling


def _sample_factors(ground_truth_data, factor_sizes, num, random_state):
    """``num`` factor rows, checked to be ints in range: int64 [num, K]."""
    factors = np.asarray(ground_truth_data.sample_factors(num, random_state))
    if factors.shape != (num, len(factor_sizes)):
        raise ValueError(
            f"ground_truth_data.sample_factors({num}, ...) returned shape {factors.shape}; "
            f"expected ({num}, {len(factor_sizes)}) for factor_sizes {tuple(factor_sizes)}."
        )
    as_int = factors.astype(np.int64)
    if not np.array_equal(as_int, factors) or np.any(as_int < 0) or np.any(as_int >= factor_sizes):
        raise ValueError(
            "ground_truth_data.sample_factors must return integer factor indices in "
            f"[0, factor_size) for factor_sizes {tuple(factor_sizes)}."
        )
    return as_int


def _check_codes(codes, num, num_codes):
    """Codes as float64 [num, D]; ValueError when the shape or values are wrong."""
    try:
        codes = np.asarray(codes, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            "representation_function must return a numeric array [num, D] (e.g. the encoder "
            f"mean); could not convert its output: {err}"
        ) from None
    if codes.ndim != 2 or codes.shape[0] != num or codes.shape[1] == 0:
        raise ValueError(
            f"representation_function returned shape {codes.shape} for {num} observations; "
            f"expected ({num}, D) with D >= 1 (one code vector per observation; for a "
            "tuple-returning encoder pass e.g. lambda x: encoder(x)[0])."
        )
    if num_codes is not None and codes.shape[1] != num_codes:
        raise ValueError(
            f"representation_function returned {codes.shape[1]} code dimensions for one "
            f"batch and {num_codes} for another; D must be the same for every batch."
        )
    if not np.all(np.isfinite(codes)):
        raise ValueError(
            "representation_function returned NaN or infinite codes "
            f"({np.count_nonzero(~np.isfinite(codes))} of {codes.size} values)."
        )
    return codes


def _check_posterior(output, num, num_codes):
    """``(mean, scale)`` as float64 [num, D] each, from a function that returns the Gaussian
    posterior q(z|x) = N(mean, diag(scale^2)) of each observation."""
    if not (isinstance(output, (tuple, list)) and len(output) == 2):
        raise ValueError(
            "the representation function must return the Gaussian posterior (mean, scale): "
            f"two arrays [num, D]; got {type(output).__name__} (for a model: "
            "lambda x: model.encode(x, return_distribution=True))."
        )
    mean = _check_codes(output[0], num, num_codes)
    scale = _check_codes(output[1], num, mean.shape[1])
    if np.any(scale < 0):
        raise ValueError("the posterior scale must be >= 0 (a standard deviation, not a log "
                         "variance).")
    return mean, scale


def sampled_representation(posterior_function, random_state):
    """The sampled representation z = mean + scale * eps, eps ~ N(0, I) drawn from
    ``random_state``: a representation function made from ``posterior_function``
    (observations -> the Gaussian posterior ``(mean, scale)``, each [num, D]), as
    disentanglement_lib's ``sampled_representation`` post-processing makes one from a
    Gaussian encoder. Any metric can score it.

    Example::

        >>> rs = np.random.RandomState(0)
        >>> mig(data, sampled_representation(posterior, rs), rs)
    """
    _check_representation_function(posterior_function)
    rs = _check_random_state(random_state)

    def sample(observations):
        mean, scale = _check_posterior(posterior_function(observations), len(observations),
                                       None)
        return mean + scale * rs.standard_normal(mean.shape)

    return sample


def _encode_factors(ground_truth_data, representation_function, factors, random_state,
                    batch_size, num_codes=None):
    """Codes [len(factors), D] of observations rendered and encoded ``batch_size`` at a time."""
    chunks = []
    for start in range(0, len(factors), batch_size):
        batch = factors[start:start + batch_size]
        observations = ground_truth_data.sample_observations_from_factors(batch, random_state)
        codes = _check_codes(representation_function(observations), len(batch), num_codes)
        num_codes = codes.shape[1]
        chunks.append(codes)
    return np.concatenate(chunks, axis=0)


def _sample_codes_and_factors(ground_truth_data, representation_function, factor_sizes, num,
                              random_state, batch_size):
    """(codes [num, D] float64, factors [num, K] int64) for ``num`` random factor draws."""
    factors = _sample_factors(ground_truth_data, factor_sizes, num, random_state)
    codes = _encode_factors(ground_truth_data, representation_function, factors, random_state,
                            batch_size)
    return codes, factors


def _iter_groups(ground_truth_data, representation_function, factor_sizes, num_groups,
                 make_group, random_state, batch_size):
    """Yield ``(factor_index, codes)`` per group, encoding several groups per batch.

    ``make_group(k)`` returns the factor rows of one group for the conditioned factor ``k``
    (drawn uniformly). Groups are rendered in chunks of about ``batch_size`` observations, so
    no more than a chunk of observations and its codes is held at once.
    """
    num_factors = len(factor_sizes)
    num_codes = None
    done = 0
    while done < num_groups:
        labels, rows = [], []
        size = 0
        while done + len(labels) < num_groups and (not labels or size < batch_size):
            k = int(random_state.randint(num_factors))
            group = make_group(k)
            labels.append(k)
            rows.append(group)
            size += len(group)
        codes = _encode_factors(ground_truth_data, representation_function,
                                np.concatenate(rows, axis=0), random_state, batch_size,
                                num_codes)
        num_codes = codes.shape[1]
        start = 0
        for k, group in zip(labels, rows):
            yield k, codes[start:start + len(group)]
            start += len(group)
        done += len(labels)


# --------------------------------------------------------------------------- information


def _discretize(codes, num_bins):
    """Each column into ``num_bins`` equal-width bins over its own [min, max]: ints 0..bins-1."""
    out = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], bins=num_bins)
        out[:, d] = np.digitize(codes[:, d], edges[1:-1])
    return out


def _entropy(labels):
    """Entropy in nats of the empirical distribution of discrete ``labels``."""
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def _mutual_info(x, y):
    """Mutual information in nats between two discrete label vectors (plug-in estimate)."""
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    nx, ny = xi.max() + 1, yi.max() + 1
    joint = np.bincount(xi.ravel() * ny + yi.ravel(), minlength=nx * ny).reshape(nx, ny)
    pxy = joint / joint.sum()
    px = pxy.sum(axis=1, keepdims=True)
    py = pxy.sum(axis=0, keepdims=True)
    nz = pxy > 0
    return float(max(np.sum(pxy[nz] * np.log(pxy[nz] / (px @ py)[nz])), 0.0))


def _mutual_info_matrix(a, b):
    """[A, B] matrix of discrete MI between the columns of ``a`` [n, A] and ``b`` [n, B]."""
    return np.array([[_mutual_info(a[:, i], b[:, j]) for j in range(b.shape[1])]
                     for i in range(a.shape[1])])


def _normalized_entropy(weights, axis):
    """Entropy of ``weights`` normalised along ``axis``, in log base = its length (in [0, 1]).

    Slices that sum to zero count as uniform (entropy 1); a length-1 axis gives 0.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n = weights.shape[axis]
    if n == 1:
        return np.zeros(np.delete(weights.shape, axis))
    total = weights.sum(axis=axis, keepdims=True)
    p = np.divide(weights, total, out=np.full_like(weights, 1.0 / n), where=total > 0)
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -plogp.sum(axis=axis) / np.log(n)


def _top_two_gap(scores):
    """Per column of ``scores`` [D, K]: largest minus second largest entry (the largest
    itself when D == 1: no second code)."""
    if scores.shape[0] == 1:
        return scores[0].copy()
    ordered = np.sort(scores, axis=0)
    return ordered[-1] - ordered[-2]


def _seed(random_state):
    """An int seed for an sklearn estimator, drawn from ``random_state``."""
    return int(random_state.randint(np.iinfo(np.int32).max))


def _logistic_ovr(seed):
    """One-vs-rest L2 logistic regression, C=1, liblinear.

    This is what disentanglement_lib's ``LogisticRegression()`` was under the scikit-learn
    of its day (default solver "liblinear", multi_class "ovr").
    """
    from sklearn.linear_model import LogisticRegression  # scikit-learn loads on first use (~1.5 s)
    from sklearn.multiclass import OneVsRestClassifier  # scikit-learn loads on first use (~1.5 s)

    return OneVsRestClassifier(LogisticRegression(solver="liblinear", random_state=seed))
