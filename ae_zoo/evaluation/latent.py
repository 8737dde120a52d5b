"""Looking inside a latent space: interpolation, traversal and latent statistics.

Every function takes any ae_zoo model, in memory or exported (``load_pretrained``): it
asks the model what it can do. The "code" of x is ``model.encode(x)``: the bottleneck of
a deterministic autoencoder, the posterior mean E_q[z|x] for a Gaussian posterior. A
conditional model encodes and decodes under class labels, so its functions need
``labels=`` (the class ids of x); for the other models ``labels=`` is an error.

Example:
    >>> images = interpolate(vae, x[0], x[1], steps=8, method="slerp")  # (8, H, W, C)
    >>> images = traverse(vae, x[0], dim=2, values=np.linspace(-3, 3, 7))  # (7, H, W, C)
    >>> stats = latent_stats(vae, x_test)
    >>> stats["active_units"], stats["value_range"], stats["kl_per_dim"]
"""

import numpy as np

METHODS = ("linear", "slerp")
#: Default percent levels of the quantiles that :func:`latent_stats` reports.
QUANTILE_LEVELS = (1.0, 25.0, 50.0, 75.0, 99.0)
#: Burda et al. (2016): dimension j is active when Cov_x(E_q[z_j|x]) > 0.01.
ACTIVE_THRESHOLD = 0.01
# sin(Omega) below this (endpoints parallel or antiparallel): slerp falls back to linear.
_SLERP_EPS = 1e-6


# --------------------------------------------------------------- encode / decode
def _check_model(model):
    if model.example_shape is None:
        raise ValueError(
            f"{_name(model)} is not built yet: create it with `input_shape=` or train it on "
            "data first."
        )


def _as_images(model, x, what="x"):
    """``(batch float32 array, was_single)``: one image becomes a batch of one."""
    x = np.asarray(x, dtype="float32")
    shape = model.example_shape
    rank = len(shape) if shape else 3
    if x.ndim == rank:
        x, single = x[None], True
    elif x.ndim == rank + 1:
        single = False
    else:
        raise ValueError(
            f"`{what}` must be one image of shape {shape or '(H, W, C)'} or a batch of them; "
            f"got shape {x.shape}."
        )
    if shape and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"`{what}` has image shape {x.shape[1:]}, but the model takes {shape}.")
    return x, single


def _labels_for(model, labels, n):
    """Class ids for ``n`` examples (an int is repeated), or None for an unconditional model."""
    if not model.conditional:
        if labels is not None:
            raise ValueError(
                f"`labels=` only applies to a conditional model; {_name(model)} encodes "
                "and decodes without labels."
            )
        return None
    if labels is None:
        raise ValueError(
            f"{_name(model)} is conditional: it encodes and decodes under class labels. "
            "Pass `labels=` (one class id, or one per example)."
        )
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 1:
        labels = np.repeat(labels, n)
    if len(labels) != n:
        raise ValueError(f"Got {len(labels)} labels for {n} examples; pass one label or one per example.")
    return labels


def _name(model):
    return getattr(model, "registry_name", None) or type(model).__name__


def latent_codes(model, x, labels=None, batch_size=256, return_scale=False):
    """The codes of a batch ``x`` as numpy, shape (N, latent_dim).

    The code is ``model.encode(x)``: the bottleneck of an autoencoder, the
    posterior mean for a Gaussian posterior. With ``return_scale`` (Gaussian
    posterior only) returns ``(mean, scale)`` of q(z|x) = N(mean, diag(scale^2)).
    """
    _check_model(model)
    x, _ = _as_images(model, x)
    labels = _labels_for(model, labels, len(x))
    if return_scale and model.posterior_type != "gaussian":
        raise ValueError(f"{_name(model)} has no Gaussian posterior: it has no posterior scale.")
    out = model.encode(x, labels=labels, batch_size=int(batch_size),
                       return_distribution=bool(return_scale))
    if return_scale:
        return tuple(np.asarray(a, dtype="float32") for a in out)
    return np.asarray(out, dtype="float32")


def decode_codes(model, z, labels=None, batch_size=256):
    """The mean images decoded from codes ``z`` (N, latent_dim), as numpy."""
    _check_model(model)
    z = np.asarray(z, dtype="float32")
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"Codes must have shape (N, {model.latent_dim}), got {z.shape}.")
    labels = _labels_for(model, labels, len(z))
    return np.asarray(model.decode(z, labels=labels, batch_size=int(batch_size)), dtype="float32")


# ----------------------------------------------------------------- interpolation
def latent_path(z_a, z_b, steps=8, method="linear"):
    """Codes on the path from ``z_a`` to ``z_b`` at t = linspace(0, 1, steps).

    ``linear``: (1 - t) a + t b. ``slerp`` (Shoemake 1985; White 2016 for
    generative models): sin((1 - t) W) / sin W * a + sin(t W) / sin W * b with
    W the angle between a and b; linear where sin W ~ 0 (parallel or
    antiparallel codes, or a zero code). ``z_a``, ``z_b``: (D,) or (pairs, D);
    returns (steps, D) or (pairs, steps, D), float64.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown interpolation method {method!r}; expected one of {', '.join(METHODS)}.")
    if int(steps) != steps or int(steps) < 2:
        raise ValueError(f"`steps` must be an integer >= 2, got {steps!r}.")
    a, b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2):
        raise ValueError(f"z_a and z_b must both have shape (D,) or (pairs, D); got {a.shape} and {b.shape}.")
    single = a.ndim == 1
    a, b = np.atleast_2d(a)[:, None, :], np.atleast_2d(b)[:, None, :]  # (pairs, 1, D)
    t = np.linspace(0.0, 1.0, int(steps))[None, :, None]  # (1, steps, 1)
    path = (1.0 - t) * a + t * b
    if method == "slerp":
        norm_a, norm_b = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)  # (pairs, 1)
        safe = np.where((norm_a > 0) & (norm_b > 0), norm_a * norm_b, 1.0)
        cos = np.clip(np.sum(a * b, axis=-1) / safe, -1.0, 1.0)
        omega = np.arccos(cos)[..., None]  # (pairs, 1, 1)
        sin = np.sin(omega)
        ok = (sin > _SLERP_EPS) & ((norm_a > 0) & (norm_b > 0))[..., None]
        sin = np.where(ok, sin, 1.0)
        spherical = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / sin
        path = np.where(ok, spherical, path)
    return path[0] if single else path


def interpolate(model, x_a, x_b, steps=8, method="linear", labels=None, return_codes=False,
                batch_size=256):
    """Images decoded along the latent path between the codes of ``x_a`` and ``x_b``.

    The codes z_a = encode(x_a), z_b = encode(x_b) are joined by
    :func:`latent_path` (``"linear"`` or ``"slerp"``) at t = linspace(0, 1,
    steps); the first image is decode(z_a) and the last decode(z_b).

    Args:
        x_a, x_b: one image each (H, W, C), or batches of pairs (pairs, H, W, C).
        labels: ConditionalVAE only: the class id(s) under which both ends are
            encoded and the whole path decoded (one, or one per pair).
        return_codes: also return the codes decoded.

    Returns:
        images (steps, H, W, C) for single images or (pairs, steps, H, W, C);
        with ``return_codes``, ``(images, codes)`` with codes (steps, D) or
        (pairs, steps, D).
    """
    xa, single_a = _as_images(model, x_a, "x_a")
    xb, single_b = _as_images(model, x_b, "x_b")
    if xa.shape != xb.shape:
        raise ValueError(f"x_a and x_b must have the same shape, got {xa.shape} and {xb.shape}.")
    pairs = len(xa)
    labels = _labels_for(model, labels, pairs)
    z_a = latent_codes(model, xa, labels, batch_size)
    z_b = latent_codes(model, xb, labels, batch_size)
    codes = latent_path(z_a, z_b, steps, method).astype("float32")  # (pairs, steps, D)
    steps = codes.shape[1]
    flat_labels = None if labels is None else np.repeat(labels, steps)
    images = decode_codes(model, codes.reshape(pairs * steps, -1), flat_labels, batch_size)
    images = images.reshape(pairs, steps, *images.shape[1:])
    if single_a and single_b:
        images, codes = images[0], codes[0]
    return (images, codes) if return_codes else images


# --------------------------------------------------------------------- traversal
def _check_dim(model, dim):
    if isinstance(dim, bool) or int(dim) != dim or not 0 <= int(dim) < model.latent_dim:
        raise ValueError(f"Latent dimension {dim!r} is out of range: the model has dims 0..{model.latent_dim - 1}.")
    return int(dim)


def _as_values(values):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"`values` must be a non-empty 1-D array of finite numbers, got {values!r}.")
    return values


def traverse(model, x, dim, values, labels=None, return_codes=False, batch_size=256):
    """Images decoded from the code of ``x`` with dimension ``dim`` set to each value.

    z = encode(x); for each v in ``values``, z' = z with z'_dim = v (the other
    dimensions held), decoded. ``x``: one image (H, W, C) -> images
    (len(values), H, W, C); or a batch (N, H, W, C) -> (N, len(values), H, W, C).
    With ``return_codes``, also the codes decoded (same leading shape, then D).
    ConditionalVAE: ``labels=`` as for :func:`interpolate`.
    """
    dim = _check_dim(model, dim)
    values = _as_values(values)
    xs, single = _as_images(model, x)
    labels = _labels_for(model, labels, len(xs))
    z = latent_codes(model, xs, labels, batch_size)  # (N, D)
    codes = np.repeat(z[:, None, :], len(values), axis=1)  # (N, V, D)
    codes[:, :, dim] = values[None, :]
    n, v = codes.shape[:2]
    flat_labels = None if labels is None else np.repeat(labels, v)
    images = decode_codes(model, codes.reshape(n * v, -1), flat_labels, batch_size)
    images = images.reshape(n, v, *images.shape[1:])
    if single:
        images, codes = images[0], codes[0]
    return (images, codes) if return_codes else images


def traversal_grid_images(model, x, dims=None, values=None, labels=None, return_codes=False,
                          batch_size=256):
    """A traversal of each dimension in ``dims`` (all when None) for one image ``x``.

    Returns images (len(dims), len(values), H, W, C): row i is
    ``traverse(model, x, dims[i], values)``; with ``return_codes`` also the
    codes (len(dims), len(values), D). ``values`` defaults to
    linspace(-3, 3, 9) for a model with the prior N(0, I) (+-3 prior standard deviations); an
    autoencoder's codes have no fixed scale, so there it must be given (e.g.
    from :func:`latent_stats`' ``percentile_range``).
    """
    xs, single = _as_images(model, x)
    if not single and len(xs) != 1:
        raise ValueError(f"traversal_grid_images takes one image, got a batch of {len(xs)}.")
    dims = list(range(model.latent_dim)) if dims is None else [_check_dim(model, d) for d in np.atleast_1d(dims)]
    if not dims:
        raise ValueError("`dims` is empty.")
    values = default_traversal_values(model) if values is None else _as_values(values)
    labels = _labels_for(model, labels, 1)
    z = latent_codes(model, xs, labels, batch_size)[0]
    codes = np.repeat(np.repeat(z[None, None, :], len(dims), 0), len(values), 1)  # (R, V, D)
    for i, d in enumerate(dims):
        codes[i, :, d] = values
    r, v = codes.shape[:2]
    flat_labels = None if labels is None else np.repeat(labels, r * v)
    images = decode_codes(model, codes.reshape(r * v, -1), flat_labels, batch_size)
    images = images.reshape(r, v, *images.shape[1:])
    return (images, codes) if return_codes else images


def default_traversal_values(model, num=9):
    """linspace(-3, 3, num) (+-3 sd) for a model with the prior N(0, I); an error otherwise."""
    if model.prior_type != "standard_normal":
        raise ValueError(
            f"{_name(model)} has no N(0, I) prior, so there is no default traversal range: pass "
            "`values=` (e.g. np.linspace(*latent_stats(model, x)['percentile_range'], 9))."
        )
    return np.linspace(-3.0, 3.0, int(num))


# -------------------------------------------------------------------- statistics
def code_summary(codes, quantile_levels=QUANTILE_LEVELS, active_threshold=ACTIVE_THRESHOLD):
    """The statistics of :func:`latent_stats` for a code matrix (N, D) (no KL)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"codes must be a non-empty (N, D) array, got shape {codes.shape}.")
    levels = np.asarray(quantile_levels, dtype=np.float64)
    if levels.ndim != 1 or levels.size < 2 or np.any(np.diff(levels) <= 0) or levels[0] < 0 or levels[-1] > 100:
        raise ValueError(f"`quantile_levels` must be increasing percents in [0, 100], got {quantile_levels!r}.")
    activity = np.var(codes, axis=0)  # Cov_x(E_q[z_j | x]), population (ddof=0)
    active = activity > float(active_threshold)
    return {
        "num_examples": int(codes.shape[0]),
        "latent_dim": int(codes.shape[1]),
        "min": codes.min(axis=0),
        "max": codes.max(axis=0),
        "mean": codes.mean(axis=0),
        "std": codes.std(axis=0),
        "value_range": (float(codes.min()), float(codes.max())),
        "percentile_range": tuple(float(p) for p in np.percentile(codes, [levels[0], levels[-1]])),
        "quantile_levels": levels,
        "quantiles": np.percentile(codes, levels, axis=0),
        "activity": activity,
        "active_threshold": float(active_threshold),
        "active_mask": active,
        "active_units": int(active.sum()),
        "kl_per_dim": None,
    }


def latent_stats(model, x, labels=None, batch_size=256, quantile_levels=QUANTILE_LEVELS,
                 active_threshold=ACTIVE_THRESHOLD, return_codes=False):
    """Statistics of the codes of ``x`` (posterior means for a Gaussian posterior).

    Returns a dict (numpy arrays have shape (latent_dim,) unless stated):

    - ``min``, ``max``, ``mean``, ``std`` (ddof=0): per dimension;
    - ``value_range``: (min, max) over all dimensions and examples;
      ``percentile_range``: the (first, last) of ``quantile_levels`` percentiles
      over all values (default the 1st and 99th);
    - ``quantile_levels`` (percents) and ``quantiles`` (levels, latent_dim):
      per-dimension percentiles (used by the box plots of
      :func:`ae_zoo.viz.latent_range_figure`);
    - ``activity``: A_j = Cov_x(E_q[z_j|x]) (the variance over x of the code,
      ddof=0); ``active_mask`` = A_j > ``active_threshold`` (0.01) and
      ``active_units`` its count (Burda et al. 2016, "Importance Weighted
      Autoencoders");
    - ``kl_per_dim``: E_x KL(q(z_j|x) || N(0, 1)) =
      E_x 0.5 (sigma_j^2 + mu_j^2 - log sigma_j^2 - 1) for a Gaussian posterior and
      the prior N(0, I) (sums to the mean KL term), None for other models (a learned
      mixture prior's KL does not split over dimensions);
    - ``num_examples``, ``latent_dim``, ``active_threshold``.

    ``return_codes=True`` returns ``(stats, codes)``, the codes (N, latent_dim) too.
    """
    if model.posterior_type == "gaussian" and model.prior_type == "standard_normal":
        mean, scale = latent_codes(model, x, labels, batch_size, return_scale=True)
    else:
        mean, scale = latent_codes(model, x, labels, batch_size), None
    stats = code_summary(mean, quantile_levels, active_threshold)
    if scale is not None:
        m, s = mean.astype(np.float64), scale.astype(np.float64)
        stats["kl_per_dim"] = np.mean(0.5 * (s**2 + m**2 - 2.0 * np.log(s) - 1.0), axis=0)
    return (stats, mean) if return_codes else stats
