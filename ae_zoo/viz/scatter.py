"""Scatters of latent codes: the codes themselves, or a PCA / t-SNE projection of them,
coloured by class (a legend naming each class) or by a continuous label.

Like :mod:`ae_zoo.viz.figures`, every function returns a ``matplotlib.figure.Figure``
built without pyplot and, given ``path=``, also saves it as a PNG (atomically).

Example:
    >>> latent_scatter(vae, test.x, test.y, path="scatter.png")
    >>> latent_scatter(vae, dsprites.x, dsprites.factors[:, 0],
    ...                class_names=dsprites.value_names(0), label_name="shape")
"""

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ae_zoo.evaluation import latent as _latent
from ae_zoo.viz.latent import _finish, _name

SCATTER_METHODS = ("auto", "first2", "pca", "tsne")


def project_codes(codes, method="auto", random_state=0, perplexity=30.0, tsne_options=None):
    """``(points (N, 2), method used, axis labels)`` for a scatter of codes (N, D).

    ``auto``: the codes themselves when D == 2, else PCA. ``first2``: z_0, z_1.
    ``pca``: ``sklearn.decomposition.PCA(2)``. ``tsne``:
    ``sklearn.manifold.TSNE(2, init="pca")`` with perplexity at most (N - 1) / 3
    and ``tsne_options`` (e.g. ``{"method": "exact", "max_iter": 250}``)
    passed on; t-SNE costs seconds to minutes for thousands of points.
    """
    if method not in SCATTER_METHODS:
        raise ValueError(f"Unknown projection method {method!r}; expected one of {', '.join(SCATTER_METHODS)}.")
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"A latent scatter needs codes of at least 2 dimensions, got shape {codes.shape}.")
    if method == "auto":
        method = "first2" if codes.shape[1] == 2 else "pca"
    if method == "first2":
        return codes[:, :2], method, ("z_0", "z_1")
    if method == "pca":
        from sklearn.decomposition import PCA  # scikit-learn loads on first use (~1.5 s)

        pca = PCA(n_components=2, random_state=random_state)
        points = pca.fit_transform(codes)
        ratio = pca.explained_variance_ratio_
        return points, method, (f"PC 1 ({ratio[0]:.0%} of variance)", f"PC 2 ({ratio[1]:.0%} of variance)")
    from sklearn.manifold import TSNE  # scikit-learn loads on first use (~1.5 s)

    if len(codes) < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {len(codes)}.")
    options = {"init": "pca", "random_state": random_state,
               "perplexity": min(float(perplexity), (len(codes) - 1) / 3.0), **(tsne_options or {})}
    tsne = TSNE(n_components=2, **options)
    return tsne.fit_transform(codes), method, ("t-SNE 1", "t-SNE 2")


def latent_scatter(model, x, labels=None, method="auto", class_names=None, random_state=0,
                   perplexity=30.0, tsne_options=None, batch_size=256, title=None, label_name=None,
                   path=None):
    """Scatter of the codes of ``x`` coloured by ``labels``.

    The points are z_0, z_1 when latent_dim == 2 (``method="auto"`` or
    ``"first2"``), else a PCA (``auto``/``"pca"``) or t-SNE (``"tsne"``)
    projection from scikit-learn (:func:`project_codes`). Integer labels
    (at most 20 classes) get one colour each and a legend naming each class by
    ``class_names[label]`` (e.g. a dataset's ``value_names()``: dSprites' shapes), else
    its number; other labels a continuous colorbar. ``label_name`` titles the legend or
    colorbar ("class" / "label" by default). A conditional model also encodes under
    ``labels``.
    """
    cond_labels = labels if model.conditional else None
    codes = _latent.latent_codes(model, x, cond_labels, batch_size)
    points, used, (xlabel, ylabel) = project_codes(codes, method, random_state, perplexity, tsne_options)
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.subplots()
    kwargs = dict(s=8, alpha=0.75, linewidths=0)
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], **kwargs)
    else:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(points):
            raise ValueError(f"Got {len(labels)} labels for {len(points)} examples.")
        classes = np.unique(labels)
        if np.all(np.mod(labels, 1) == 0) and len(classes) <= 20:
            _class_legend(ax, points, labels, classes, class_names, label_name or "class", kwargs)
        else:
            sc = ax.scatter(points[:, 0], points[:, 1], c=labels.astype(float), cmap="viridis", **kwargs)
            fig.colorbar(sc, ax=ax).set_label(label_name or "label")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is None:
        how = {"first2": "", "pca": f", PCA of {codes.shape[1]} dims",
               "tsne": f", t-SNE of {codes.shape[1]} dims"}[used]
        title = f"{_name(model)}: latent codes ({len(codes)} examples{how})"
    ax.set_title(title, fontsize=10)
    return _finish(fig, path)


def _class_legend(ax, points, labels, classes, class_names, what, kwargs):
    """One scatter, a colour per class (its index into ``classes``), and a legend beside
    the axes naming each class."""
    cmap = ListedColormap(colormaps["tab10" if len(classes) <= 10 else "tab20"].colors[:len(classes)])
    norm = BoundaryNorm(np.arange(len(classes) + 1) - 0.5, len(classes))
    ax.scatter(points[:, 0], points[:, 1], c=np.searchsorted(classes, labels), cmap=cmap,
               norm=norm, **kwargs)
    names = [str(class_names[int(c)]) if class_names is not None else str(int(c)) for c in classes]
    handles = [Line2D([], [], linestyle="", marker="o", markersize=5, color=cmap(k))
               for k in range(len(classes))]
    ax.legend(handles, names, title=what, fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False)
