"""Disentanglement metrics over a ground-truth data interface.

Every metric is one function ``metric(ground_truth_data, representation_function,
random_state, **settings) -> dict[str, float]``, as in disentanglement_lib:

* ``ground_truth_data`` has ``factor_sizes`` (ints, each >= 2),
  ``sample_factors(num, random_state) -> int array [num, K]`` and
  ``sample_observations_from_factors(factors, random_state) -> array [num, ...]``;
* ``representation_function`` maps a batch of observations to codes ``[num, D]``
  (e.g. ``model.encode``: an autoencoder's code, the posterior mean for the VAE family);
* ``random_state`` is a ``np.random.RandomState`` or an int seed. Same seed, same scores.

Settings default to those of Locatello et al. 2019, "Challenging Common Assumptions in
the Unsupervised Learning of Disentangled Representations" (disentanglement_lib's study
configs). Observations are rendered and encoded ``batch_size`` at a time; only the codes
and the integer factors are kept.

Example::

    >>> scores = compute_all(data, model.encode, random_state=0, batch_size=256)
    >>> scores["mig.mig"], scores["dci.disentanglement"]
"""

import inspect
import numbers
import warnings

import numpy as np

from ae_zoo.evaluation._disentanglement_gbt import BinnedGradientBoostingClassifier

__all__ = [
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "dci",
    "sap",
    "modularity_explicitness",
    "unsupervised_scores",
    "compute_all",
    "METRICS",
]

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


def _dci_from_importance(importance):
    """(disentanglement, completeness) of an importance matrix R [D codes, K factors].

    Eastwood & Williams 2018: D = sum_d rho_d (1 - H_K(P_d.)), P_dk = R_dk / sum_k R_dk,
    rho_d = sum_k R_dk / sum R; C = sum_k rho_k (1 - H_D(P_.k)) symmetrically.
    """
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    if importance.ndim != 2:
        raise ValueError(f"importance must be a matrix [D, K], got shape {importance.shape}.")
    total = importance.sum()
    if total == 0:
        return 0.0, 0.0
    code_weight = importance.sum(axis=1) / total
    factor_weight = importance.sum(axis=0) / total
    disentanglement = np.sum(code_weight * (1.0 - _normalized_entropy(importance, axis=1)))
    completeness = np.sum(factor_weight * (1.0 - _normalized_entropy(importance, axis=0)))
    return float(disentanglement), float(completeness)


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


# --------------------------------------------------------------------------- metrics


def beta_vae_score(ground_truth_data, representation_function, random_state, *,
                   num_train=10000, num_eval=5000, group_size=64,
                   batch_size=_DEFAULT_BATCH_SIZE):
    """BetaVAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts...").

    A point: draw a factor k uniformly, ``group_size`` pairs (x1, x2) that share factor k
    (other factors random); feature = mean over pairs of |z(x1) - z(x2)|, label = k. A
    one-vs-rest logistic regression (C=1, liblinear; disentanglement_lib's sklearn-default
    classifier) is trained on ``num_train`` points and scored on ``num_eval`` others.

    Defaults (Locatello et al. 2019): num_train=10000, num_eval=5000, group_size=64 pairs.
    ``batch_size`` observations per representation call.

    Returns ``{"train_accuracy", "eval_accuracy"}``; chance is 1/K.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_eval=num_eval)
    _check_positive_int("group_size", group_size)

    def make_pairs(k):
        first = _sample_factors(ground_truth_data, sizes, group_size, rs)
        second = _sample_factors(ground_truth_data, sizes, group_size, rs)
        second[:, k] = first[:, k]
        return np.concatenate([first, second], axis=0)

    def features(num):
        labels, rows = np.empty(num, dtype=np.int64), []
        groups = _iter_groups(ground_truth_data, representation_function, sizes, num,
                              make_pairs, rs, batch_size)
        for i, (k, codes) in enumerate(groups):
            labels[i] = k
            rows.append(np.mean(np.abs(codes[:group_size] - codes[group_size:]), axis=0))
        return np.stack(rows), labels

    x_train, y_train = features(num_train)
    x_eval, y_eval = features(num_eval)
    if np.unique(y_train).size < 2:  # only possible for tiny num_train
        majority = np.bincount(y_train).argmax()
        return {"train_accuracy": 1.0, "eval_accuracy": float(np.mean(y_eval == majority))}
    model = _logistic_ovr(_seed(rs)).fit(x_train, y_train)
    return {
        "train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval)),
    }


def factor_vae_score(ground_truth_data, representation_function, random_state, *,
                     num_train=10000, num_eval=5000, group_size=64,
                     num_variance_estimate=10000, prune_threshold=0.05,
                     batch_size=_DEFAULT_BATCH_SIZE):
    """FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising").

    Global per-dimension std s_d from ``num_variance_estimate`` codes; dimensions with
    s_d < ``prune_threshold`` are inactive and dropped. A vote: draw factor k, render
    ``group_size`` observations with factor k fixed (others random); the vote is
    (k, argmin_d Var(z_d / s_d)) over active d (sample variance, ddof=1). The classifier is
    a majority vote: each code dimension predicts its most frequent factor among the
    ``num_train`` training votes; accuracy = fraction of votes it gets right.

    Defaults (Locatello et al. 2019): num_train=10000, num_eval=5000, group_size=64,
    num_variance_estimate=10000, prune_threshold=0.05. ``batch_size`` observations per
    representation call.

    Returns ``{"train_accuracy", "eval_accuracy", "num_active_dims"}``; all 0 when no
    dimension is active. Chance is about 1/K.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_eval=num_eval,
                       num_variance_estimate=num_variance_estimate)
    _check_positive_int("group_size", group_size, minimum=2)
    codes, _ = _sample_codes_and_factors(ground_truth_data, representation_function, sizes,
                                         num_variance_estimate, rs, batch_size)
    global_var = np.var(codes, axis=0, ddof=1)
    num_codes = codes.shape[1]
    del codes
    active = np.flatnonzero(np.sqrt(global_var) >= prune_threshold)
    if active.size == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}

    def make_group(k):
        factors = _sample_factors(ground_truth_data, sizes, group_size, rs)
        factors[:, k] = factors[0, k]
        return factors

    def votes(num):
        table = np.zeros((len(sizes), num_codes), dtype=np.int64)
        groups = _iter_groups(ground_truth_data, representation_function, sizes, num,
                              make_group, rs, batch_size)
        for k, group_codes in groups:
            local_var = np.var(group_codes[:, active], axis=0, ddof=1)
            table[k, active[np.argmin(local_var / global_var[active])]] += 1
        return table

    train_votes = votes(num_train)
    eval_votes = votes(num_eval)
    classifier = np.argmax(train_votes, axis=0)  # code dimension -> factor
    dims = np.arange(num_codes)
    return {
        "train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "num_active_dims": float(active.size),
    }


def mig(ground_truth_data, representation_function, random_state, *, num_train=10000,
        num_bins=_DEFAULT_NUM_BINS, batch_size=_DEFAULT_BATCH_SIZE):
    """Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

    MIG = 1/K sum_k (I(z_j(1); v_k) - I(z_j(2); v_k)) / H(v_k), where j(1), j(2) are the code
    dimensions with the largest and second largest mutual information with factor v_k.
    Each code dimension is discretised into ``num_bins`` equal-width bins over its range;
    MI and H are plug-in estimates on ``num_train`` samples.

    Defaults (Locatello et al. 2019): num_train=10000, num_bins=20.

    Returns ``{"mig", "mig_per_factor_0", ..., "mig_per_factor_<K-1>"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train)
    _check_positive_int("num_bins", num_bins, minimum=2)
    codes, factors = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_train, rs, batch_size)
    info = _mutual_info_matrix(_discretize(codes, num_bins), factors)
    entropy = np.array([_entropy(factors[:, k]) for k in range(len(sizes))])
    per_factor = np.divide(_top_two_gap(info), entropy, out=np.zeros(len(sizes)),
                           where=entropy > 0)
    scores = {"mig": float(np.mean(per_factor))}
    scores.update({f"mig_per_factor_{k}": float(v) for k, v in enumerate(per_factor)})
    return scores


def _fit_importance(estimator, x_train, y_train, x_test, y_test):
    """(|feature importances| [D], train accuracy, test accuracy) for one factor."""
    if np.unique(y_train).size < 2:  # a constant factor (tiny num_train): nothing to learn
        return (np.zeros(x_train.shape[1]), 1.0, float(np.mean(y_test == y_train[0])))
    model = estimator.fit(x_train, y_train)
    train_predictions = getattr(model, "train_predictions_", None)  # hist_gbt keeps them
    if train_predictions is None:
        train_predictions = model.predict(x_train)
    return (np.abs(np.asarray(model.feature_importances_, dtype=np.float64)),
            float(np.mean(train_predictions == y_train)),
            float(np.mean(model.predict(x_test) == y_test)))


def _dci_estimator(estimator, seed, max_bins):
    from sklearn.base import clone  # scikit-learn loads on first use (~1.5 s)
    from sklearn.ensemble import GradientBoostingClassifier  # scikit-learn loads on first use (~1.5 s)


    if isinstance(estimator, str):
        if estimator == "hist_gbt":
            return BinnedGradientBoostingClassifier(max_bins=max_bins, random_state=seed)
        if estimator == "gbt":
            return GradientBoostingClassifier(random_state=seed)
    elif hasattr(estimator, "fit") and hasattr(estimator, "predict"):
        return clone(estimator)
    raise ValueError(
        f"estimator must be 'hist_gbt', 'gbt' or an unfitted sklearn classifier that "
        f"exposes feature_importances_ after fit, got {estimator!r}."
    )


def dci(ground_truth_data, representation_function, random_state, *, num_train=10000,
        num_test=5000, estimator="hist_gbt", max_bins=256, n_jobs=None,
        batch_size=_DEFAULT_BATCH_SIZE):
    """DCI disentanglement, completeness, informativeness (Eastwood & Williams 2018, "A
    Framework for the Quantitative Evaluation of Disentangled Representations").

    Per factor k a gradient-boosted tree classifier codes -> v_k; R[d, k] = |importance of
    code d for v_k| (impurity-based, summing to 1 per factor).
    disentanglement = sum_d rho_d (1 - H_K(P_d.)), P_dk = R_dk / sum_k R_dk,
    rho_d = sum_k R_dk / sum R; completeness = sum_k rho_k (1 - H_D(P_.k)),
    P_dk = R_dk / sum_d R_dk, rho_k = sum_d R_dk / sum R (entropies in log base K, D);
    informativeness = classification accuracy averaged over factors (train and test).

    ``estimator``:

    * ``"hist_gbt"`` (default): disentanglement_lib's classifier, scikit-learn's
      ``GradientBoostingClassifier()`` (100 stages of depth-3 trees, learning rate 0.1,
      log-loss, impurity importances), re-implemented with split thresholds restricted to
      ``max_bins`` quantile bins per code dimension (exact when a dimension has at most
      ``max_bins`` distinct values) so that all class trees of a stage grow together from
      histograms. On dSprites-sized factors (3+6+40+32+32 classes) and 10,000 x 10 codes
      it takes ~25 s CPU instead of ~5.5 min. The binning is the only change, but
      boosting with 30-40 classes is sensitive to it: on the mixed representations
      compared, D and C came out 0.02-0.03 lower than with ``"gbt"`` (benchmarks/
      metrics.py: D 0.39 vs 0.42, C 0.38 vs 0.39, test accuracy 0.465 vs 0.461).
    * ``"gbt"``: exactly disentanglement_lib's ``GradientBoostingClassifier()``; use it to
      reproduce published numbers when several CPU-minutes per call are affordable.
    * an unfitted sklearn classifier exposing ``feature_importances_`` (cloned per factor).

    ``max_bins >= num_train`` makes every threshold a candidate: the same model as "gbt" up
    to tie-breaking, and about as slow.

    ``n_jobs``: fit the K factors' classifiers in that many threads (joblib; both tree
    builders release the GIL for most of their work); None = 1. Scores do not depend on it.

    Defaults (Locatello et al. 2019): num_train=10000, num_test=5000.

    Returns ``{"disentanglement", "completeness", "informativeness_train",
    "informativeness_test"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_test=num_test)
    _check_positive_int("max_bins", max_bins, minimum=2)
    _dci_estimator(estimator, 0, max_bins)  # fail before sampling
    x_train, y_train = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                 sizes, num_train, rs, batch_size)
    x_test, y_test = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_test, rs, batch_size)
    jobs = [(_dci_estimator(estimator, _seed(rs), max_bins), x_train, y_train[:, k], x_test,
             y_test[:, k]) for k in range(len(sizes))]
    if n_jobs is None or n_jobs == 1:
        results = [_fit_importance(*job) for job in jobs]
    else:
        from joblib import Parallel, delayed  # only when DCI fits factors in parallel

        results = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_fit_importance)(*job) for job in jobs)
    importance = np.stack([r[0] for r in results], axis=1)  # [D, K]
    disentanglement, completeness = _dci_from_importance(importance)
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness_train": float(np.mean([r[1] for r in results])),
        "informativeness_test": float(np.mean([r[2] for r in results])),
    }


def sap(ground_truth_data, representation_function, random_state, *, num_train=10000,
        num_test=5000, C=0.01, batch_size=_DEFAULT_BATCH_SIZE):
    """Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of
    Disentangled Latent Concepts from Unlabeled Observations").

    S[d, k] = test accuracy of a linear SVM predicting factor v_k from the single code z_d
    (``LinearSVC(C=0.01, class_weight="balanced")``, disentanglement_lib's setting for
    discrete factors); SAP = 1/K sum_k (largest - second largest S[., k] over d).

    Defaults (Locatello et al. 2019): num_train=10000, num_test=5000, C=0.01.

    Returns ``{"sap"}``.
    """
    from sklearn.exceptions import ConvergenceWarning  # scikit-learn loads on first use (~1.5 s)
    from sklearn.svm import LinearSVC  # scikit-learn loads on first use (~1.5 s)

    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_test=num_test)
    x_train, y_train = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                 sizes, num_train, rs, batch_size)
    x_test, y_test = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_test, rs, batch_size)
    seed = _seed(rs)  # one seed for every fit: the score does not depend on code order
    scores = np.zeros((x_train.shape[1], len(sizes)))
    constant = [np.unique(y_train[:, k]).size < 2 for k in range(len(sizes))]
    for d in range(x_train.shape[1]):
        for k in range(len(sizes)):
            if constant[k]:  # only possible for tiny num_train: every code scores the same
                scores[d, k] = np.mean(y_test[:, k] == y_train[0, k])
                continue
            svm = LinearSVC(C=C, class_weight="balanced", random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                svm.fit(x_train[:, d:d + 1], y_train[:, k])
            scores[d, k] = np.mean(svm.predict(x_test[:, d:d + 1]) == y_test[:, k])
    return {"sap": float(np.mean(_top_two_gap(scores)))}


def _explicitness(x_train, y_train, x_test, y_test, seed):
    """(train AUC, test AUC) of a one-vs-rest logistic regression codes -> one factor."""
    from sklearn.metrics import roc_auc_score  # scikit-learn loads on first use (~1.5 s)

    model = _logistic_ovr(seed).fit(x_train, y_train)
    aucs = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        proba = model.predict_proba(x)
        per_class = [roc_auc_score(y == c, proba[:, i]) for i, c in enumerate(model.classes_)
                     if 0 < np.count_nonzero(y == c) < len(y)]
        aucs.append(float(np.mean(per_class)) if per_class else 0.5)  # 0.5: chance
    return aucs


def modularity_explicitness(ground_truth_data, representation_function, random_state, *,
                            num_train=10000, num_test=5000, num_bins=_DEFAULT_NUM_BINS,
                            batch_size=_DEFAULT_BATCH_SIZE):
    """Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled
    Embeddings with the F-Statistic Loss").

    m[d, k] = discrete MI between code d (``num_bins`` equal-width bins) and factor k on the
    training codes; theta_d = max_k m[d, k]; against the template t_d. = theta_d at the
    argmax and 0 elsewhere, delta_d = sum_k (m[d, k] - t[d, k])^2 / (theta_d^2 (K - 1));
    modularity = mean_d (1 - delta_d), counting codes with no information (theta_d = 0)
    as 0, as disentanglement_lib does. Explicitness: per factor a one-vs-rest logistic
    regression (C=1, liblinear) on all codes, standardised with the training mean and std;
    mean one-vs-rest ROC AUC over the classes, averaged over factors, on train and test
    codes (0.5 is chance, 1 perfect).

    Defaults (Locatello et al. 2019): num_train=10000, num_test=5000, num_bins=20.

    Returns ``{"modularity", "explicitness_train", "explicitness_test"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_test=num_test)
    _check_positive_int("num_bins", num_bins, minimum=2)
    x_train, y_train = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                 sizes, num_train, rs, batch_size)
    x_test, y_test = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_test, rs, batch_size)
    info = _mutual_info_matrix(_discretize(x_train, num_bins), y_train)  # [D, K]
    # the classifiers see codes standardised with the training mean and std
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    seed = _seed(rs)
    auc = np.array([_explicitness(x_train, y_train[:, k], x_test, y_test[:, k], seed)
                    for k in range(len(sizes)) if np.unique(y_train[:, k]).size > 1])
    if auc.size == 0:  # only possible for tiny num_train
        auc = np.full((1, 2), 0.5)
    return {
        "modularity": _modularity(info),
        "explicitness_train": float(np.mean(auc[:, 0])),
        "explicitness_test": float(np.mean(auc[:, 1])),
    }


def _modularity(info):
    """Ridgeway & Mozer modularity of an MI matrix [D codes, K factors]."""
    info = np.asarray(info, dtype=np.float64)
    num_factors = info.shape[1]
    if num_factors == 1:
        return 1.0
    theta_sq = np.max(info, axis=1) ** 2
    off_max = np.sum(info ** 2, axis=1) - theta_sq
    delta = np.divide(off_max, theta_sq * (num_factors - 1), out=np.ones_like(theta_sq),
                      where=theta_sq > 0)
    return float(np.mean(1.0 - delta))


def _gaussian_total_correlation(cov):
    """KL(N(0, cov) || N(0, diag(cov))) = 0.5 (sum_i log cov_ii - log det cov)."""
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def _gaussian_wasserstein_correlation(cov):
    """W2^2(N(0, cov), N(0, diag(cov))) = 2 tr(cov) - 2 tr((S cov S)^(1/2)), S = diag(cov)^(1/2)."""
    scale = np.sqrt(np.diag(cov))
    eig = np.linalg.eigvalsh(scale[:, None] * cov * scale[None, :])
    return float(2.0 * np.trace(cov) - 2.0 * np.sum(np.sqrt(np.clip(eig, 0.0, None))))


def unsupervised_scores(ground_truth_data, representation_function, random_state, *,
                        num_train=10000, num_bins=_DEFAULT_NUM_BINS,
                        batch_size=_DEFAULT_BATCH_SIZE):
    """Unsupervised scores (Locatello et al. 2019, section on unsupervised metrics).

    With Cov the sample covariance of the codes (ddof=1):
    gaussian_total_correlation = KL(N(0, Cov) || N(0, diag Cov)) = 0.5 (sum log diag Cov -
    log det Cov); gaussian_wasserstein_correlation = W2^2 between the same two Gaussians =
    2 tr Cov - 2 tr((S Cov S)^(1/2)), S = diag(Cov)^(1/2), and its "_norm" version divided
    by tr Cov; mutual_info_score = mean discrete MI between pairs of distinct code
    dimensions (``num_bins`` equal-width bins). Code dimensions with zero variance are
    constant, independent of the others, and are left out of the Gaussian scores; an
    exactly singular remaining covariance gives an infinite total correlation.

    Defaults (Locatello et al. 2019): num_train=10000, num_bins=20.

    Returns ``{"gaussian_total_correlation", "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm", "mutual_info_score"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train)
    _check_positive_int("num_bins", num_bins, minimum=2)
    codes, _ = _sample_codes_and_factors(ground_truth_data, representation_function, sizes,
                                         num_train, rs, batch_size)
    varying = codes[:, np.var(codes, axis=0) > 0]
    if varying.shape[1] == 0:
        tc = wc = wc_norm = 0.0
    else:
        cov = np.atleast_2d(np.cov(varying, rowvar=False))
        tc = _gaussian_total_correlation(cov)
        wc = _gaussian_wasserstein_correlation(cov)
        wc_norm = wc / float(np.trace(cov))
    num_codes = codes.shape[1]
    if num_codes > 1:
        binned = _discretize(codes, num_bins)
        info = _mutual_info_matrix(binned, binned)
        np.fill_diagonal(info, 0.0)
        mi_score = float(info.sum() / (num_codes * (num_codes - 1)))
    else:
        mi_score = 0.0
    return {
        "gaussian_total_correlation": tc,
        "gaussian_wasserstein_correlation": wc,
        "gaussian_wasserstein_correlation_norm": wc_norm,
        "mutual_info_score": mi_score,
    }


# --------------------------------------------------------------------------- all at once

METRICS = {
    "beta_vae_score": beta_vae_score,
    "factor_vae_score": factor_vae_score,
    "mig": mig,
    "dci": dci,
    "sap": sap,
    "modularity_explicitness": modularity_explicitness,
    "unsupervised_scores": unsupervised_scores,
}


def _settings(metric):
    """Names of a metric's keyword-only settings."""
    return [p.name for p in inspect.signature(metric).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def compute_all(ground_truth_data, representation_function, random_state, metrics=None,
                **overrides):
    """Run several metrics; returns ``{"<metric>.<key>": value}``.

    ``metrics``: names from ``METRICS`` (default: all, in that order). Each metric gets its
    own seed drawn from ``random_state`` in the fixed ``METRICS`` order, so a metric's score
    does not depend on which other metrics are run. ``overrides``: ``setting=value`` goes to
    every selected metric that has that setting (e.g. ``num_train=2000, batch_size=256``;
    a setting no metric has is a TypeError); ``<metric>={...}`` gives settings to one
    metric and wins over the shared ones (e.g. ``dci={"estimator": "gbt"}``).

    Example::

        >>> compute_all(data, encode_mean, 0, metrics=["mig", "dci"], num_train=2000)
        {"mig.mig": ..., "mig.mig_per_factor_0": ..., "dci.disentanglement": ..., ...}
    """
    names = list(METRICS) if metrics is None else (
        [metrics] if isinstance(metrics, str) else list(metrics))
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}.")
    _check_ground_truth_data(ground_truth_data)
    _check_representation_function(representation_function)
    rs = _check_random_state(random_state)
    seeds = dict(zip(METRICS, (_seed(rs) for _ in METRICS)))

    per_metric = {n: {} for n in names}
    shared = {}
    for key, value in overrides.items():
        if key in METRICS:
            if not isinstance(value, dict):
                raise TypeError(f"{key}= must be a dict of settings for that metric, got "
                                f"{type(value).__name__}.")
            if key in per_metric:
                per_metric[key].update(value)
        else:
            shared[key] = value
    for key, value in shared.items():
        if not any(key in _settings(m) for m in METRICS.values()):
            raise TypeError(f"no metric has a setting {key!r}; settings are "
                            f"{sorted({s for m in METRICS.values() for s in _settings(m)})}.")
        for n in names:
            if key in _settings(METRICS[n]):
                per_metric[n].setdefault(key, value)

    results = {}
    for name in names:
        scores = METRICS[name](ground_truth_data, representation_function,
                               np.random.RandomState(seeds[name]), **per_metric[name])
        results.update({f"{name}.{key}": value for key, value in scores.items()})
    return results
