"""Gradient-boosted trees with impurity importances, for DCI and the downstream task (private).

The model is scikit-learn's ``GradientBoostingClassifier()`` with default settings (the
classifier disentanglement_lib's DCI and downstream task use), written again so that the K
class trees of a boosting stage grow together, level by level, over all samples at once.
Same algorithm (Friedman 2001):

* raw scores start at the link of the class priors; each stage fits, per class (a single
  tree for two classes), a depth-3 least-squares regression tree to the negative gradient
  ``r = y_onehot - p`` of the multinomial (binomial) log-loss, ``p`` taken at the start
  of the stage; min_samples_split=2, min_samples_leaf=1; a node whose target variance is
  <= machine epsilon is a leaf;
* a split maximises the squared-error decrease n_L n_R / n (mean_L - mean_R)^2, and its
  threshold is the midpoint of the gap between the two sides' training values;
* a leaf takes one Newton step sum(r) / sum(p (1 - p)), times (K - 1) / K for K > 2
  classes (0 when the denominator is < 1e-150); raw += learning_rate * leaf value;
* ``feature_importances_``: the squared-error decrease of every split, summed per feature
  over all trees that split at least once, normalised to sum to 1.

Two ways to find the splits:

* :class:`ExactGradientBoostingClassifier` tries every threshold, as scikit-learn does:
  each feature is sorted once per fit, and at each level the prefix sums of the residuals
  in that order, per node, give every split of every node of the K trees at once. The
  fitted ensemble is scikit-learn's up to ties and floating-point summation order.
* :class:`BinnedGradientBoostingClassifier` tries at most ``max_bins`` thresholds per
  feature (all of them when a feature has <= ``max_bins`` distinct values, else those at
  its quantiles) and finds each level from feature histograms: faster, and the same model
  when the bins are exact, but with continuous features and many classes boosting is
  sensitive to the coarser thresholds (see ``dci``).

Features are rounded to float32, as scikit-learn's trees do. Exact ties between splits,
frequent in multiclass boosting (an early residual takes only
two values), are broken by a pseudo-random feature order per node, as scikit-learn does;
here the order is drawn from ``random_state`` and each feature's *values* (not its column
index), so permuting the input columns gives the same model.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import sparse

_EPSILON = np.finfo(np.float64).eps
_TIE_RTOL = 1e-12


def _bins_of(column, max_bins):
    """(edges, bin_min, bin_max) of one feature; bin j holds edges[j-1] < x <= edges[j]."""
    values = np.unique(column)
    midpoints = (values[:-1] + values[1:]) / 2.0
    if values.size <= max_bins:
        edges = midpoints
    else:
        quantiles = np.quantile(column, np.linspace(0.0, 1.0, max_bins + 1)[1:-1])
        index = np.searchsorted(values, quantiles, side="right") - 1
        edges = midpoints[np.unique(np.clip(index, 0, midpoints.size - 1))]
    which = np.searchsorted(edges, values, side="left")
    bin_min = np.full(edges.size + 1, np.inf)
    bin_max = np.full(edges.size + 1, -np.inf)
    np.minimum.at(bin_min, which, values)
    np.maximum.at(bin_max, which, values)
    return edges, bin_min, bin_max


def _mix64(a, b):
    """A 64-bit pseudo-random hash of two uint64 arrays (splitmix64 finaliser of a ^ b)."""
    with np.errstate(over="ignore"):
        z = (np.asarray(a, np.uint64) ^ np.asarray(b, np.uint64)) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


class _BoostedTrees:
    """The boosting loop and the prediction; subclasses find the splits (``_prepare``,
    ``_grow``)."""

    min_samples_split = 2
    min_samples_leaf = 1

    def __init__(self, n_estimators=100, learning_rate=0.1, max_depth=3, random_state=0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state

    def fit(self, x, y):
        x = _as_features(x)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        num_classes = len(self.classes_)
        if num_classes < 2:
            raise ValueError("need at least two classes to fit a classifier.")
        n, num_features = x.shape
        self.n_features_in_ = num_features
        rng = np.random.RandomState(self.random_state)
        # a column's key depends on its values only: ties do not depend on column order
        self._feature_key = np.array(
            [int.from_bytes(hashlib.blake2b(np.ascontiguousarray(x[:, f]).tobytes(),
                                            digest_size=8).digest(), "little")
             for f in range(num_features)], dtype=np.uint64)
        self._prepare(x)

        num_trees = 1 if num_classes == 2 else num_classes
        classes = np.array([1]) if num_classes == 2 else np.arange(num_classes)
        target = (y_index[:, None] == classes[None, :]).astype(np.float64)
        prior = np.clip(np.bincount(y_index, minlength=num_classes) / n, _EPSILON, 1 - _EPSILON)
        if num_classes == 2:
            self.init_ = np.array([np.log(prior[1] / (1 - prior[1]))])
        else:
            self.init_ = np.log(prior) - np.log(prior).mean()
        newton_factor = 1.0 if num_classes == 2 else (num_classes - 1) / num_classes

        num_leaves = 2 ** self.max_depth
        shape = (self.n_estimators, num_trees, num_leaves - 1)
        self.split_feature_ = np.zeros(shape, dtype=np.int64)
        self.split_threshold_ = np.full(shape, np.inf)  # x <= threshold goes left
        self.leaf_value_ = np.zeros((self.n_estimators, num_trees, num_leaves))
        importance = np.zeros(num_features)
        tree = np.arange(num_trees)[None, :]
        raw = np.tile(self.init_, (n, 1))
        for stage in range(self.n_estimators):
            prob = _probabilities(raw)
            residual = target - prob
            leaf, gains = self._grow(residual, stage, rng)
            importance += gains.sum(axis=0)
            index = (tree * num_leaves + leaf).ravel()
            size = num_trees * num_leaves
            numerator = np.bincount(index, weights=residual.ravel(), minlength=size)
            denominator = np.bincount(index, weights=(prob * (1.0 - prob)).ravel(),
                                      minlength=size)
            value = np.divide(numerator * newton_factor, denominator, out=np.zeros(size),
                              where=np.abs(denominator) >= 1e-150).reshape(num_trees, -1)
            self.leaf_value_[stage] = value
            raw += self.learning_rate * value[tree, leaf]
        self._release()
        total = importance.sum()
        self.feature_importances_ = importance / total if total > 0 else importance
        self.train_predictions_ = self._classes_of(raw)  # saves predicting x again
        return self

    def decision_function(self, x):
        x = _as_features(x)
        n, num_trees = len(x), self.leaf_value_.shape[1]
        rows = np.arange(n)[:, None]
        tree = np.arange(num_trees)[None, :]
        raw = np.tile(self.init_, (n, 1))
        for stage in range(self.n_estimators):
            feature, threshold = self.split_feature_[stage], self.split_threshold_[stage]
            node = np.zeros((n, num_trees), dtype=np.int64)
            for level in range(self.max_depth):
                index = 2 ** level - 1 + node
                node = 2 * node + (x[rows, feature[tree, index]] > threshold[tree, index])
            raw += self.learning_rate * self.leaf_value_[stage][tree, node]
        return raw

    def predict(self, x):
        return self._classes_of(self.decision_function(x))

    def _classes_of(self, raw):
        if raw.shape[1] == 1:
            return self.classes_[(raw[:, 0] > 0).astype(np.int64)]
        return self.classes_[np.argmax(raw, axis=1)]

    def _release(self):
        """Drops what only fitting needs."""

    def _node_stats(self, residual, node, num_nodes):
        """Per tree and node [T, N]: residual sum, sample count, whether it may split, and
        the parent term g^2 / n of the squared-error decrease."""
        num_trees = residual.shape[1]
        index = (np.arange(num_trees)[None, :] * num_nodes + node).ravel()
        size = num_trees * num_nodes
        total = np.bincount(index, weights=residual.ravel(), minlength=size)
        count = np.bincount(index, minlength=size).astype(np.float64)
        sum_sq = np.bincount(index, weights=(residual ** 2).ravel(), minlength=size)
        total, count, sum_sq = (a.reshape(num_trees, num_nodes) for a in (total, count, sum_sq))
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = sum_sq / count - (total / count) ** 2
            parent_term = total ** 2 / count
        may_split = ((count >= self.min_samples_split) & (count >= 2 * self.min_samples_leaf)
                     & (variance > _EPSILON))
        return total, count, may_split, parent_term

    def _pick_feature(self, best_per_feature, parent_term, rng):
        """``(feature [T, N], tied [F, T, N])``: among the features whose best split is
        (near-)equal to the best of all, the first in a random per-node order."""
        best = best_per_feature.max(axis=0)
        tolerance = _TIE_RTOL * np.maximum(np.abs(best - parent_term), np.abs(parent_term))
        tied = best_per_feature >= best - tolerance
        salt = rng.randint(0, 2 ** 63, size=best.shape, dtype=np.uint64)
        order = _mix64(self._feature_key[:, None, None], salt[None])  # [F, T, N]
        order[~tied] = np.iinfo(np.uint64).max
        return np.argmin(order, axis=0), tied

    def _record(self, stage, level, split, feature, threshold, gain, gains):
        """Stores a level's splits; adds their squared-error decreases to ``gains`` [T, F]."""
        num_nodes = 2 ** level
        first = num_nodes - 1
        self.split_feature_[stage, :, first:first + num_nodes] = np.where(split, feature, 0)
        self.split_threshold_[stage, :, first:first + num_nodes] = np.where(split, threshold,
                                                                             np.inf)
        t_split, n_split = np.nonzero(split)
        np.add.at(gains, (t_split, feature[t_split, n_split]),
                  np.maximum(gain[t_split, n_split], 0.0))


class ExactGradientBoostingClassifier(_BoostedTrees):
    """Gradient-boosted depth-``max_depth`` trees trying every threshold (see module doc).

    Arrays are tree-major ([T, n]). Each feature is sorted once; at a level, a stable sort
    by node of each tree's samples in that order makes every node a contiguous segment in
    which the residuals' running sum gives the left side of every split."""

    def _prepare(self, x):
        self._x = np.ascontiguousarray(x.T)  # [F, n]
        self._order = np.argsort(self._x, axis=1, kind="stable")
        self._sorted = np.take_along_axis(self._x, self._order, axis=1)
        # a split after sorted position i keeps equal values together: x_i < x_(i+1)
        self._can_split = self._sorted[:, :-1] < self._sorted[:, 1:]

    def _release(self):
        del self._x, self._order, self._sorted, self._can_split

    def _grow(self, residual, stage, rng):
        """Grow one depth-``max_depth`` tree per column of ``residual``, all at once.

        Returns the leaf of every sample [n, T] and the squared-error decrease per tree and
        feature [T, F] (trees that never split contribute zeros).
        """
        num_features, n = self._x.shape
        num_trees = residual.shape[1]
        node = np.zeros((num_trees, n), dtype=np.int8)  # depth <= 7
        gains = np.zeros((num_trees, num_features))
        residual_t = np.ascontiguousarray(residual.T)
        in_order = [np.take(residual_t, self._order[f], axis=1) for f in range(num_features)]
        for level in range(self.max_depth):
            num_nodes = 2 ** level
            total, count, may_split, parent_term = self._node_stats(residual, node.T, num_nodes)
            best = np.empty((num_features, num_trees, num_nodes))
            thresholds = np.empty_like(best)
            for f in range(num_features):
                best[f], thresholds[f] = self._best_splits(f, in_order[f], node, total, count)
            feature, _ = self._pick_feature(best, parent_term, rng)
            best_proxy = np.take_along_axis(best, feature[None], axis=0)[0]
            threshold = np.take_along_axis(thresholds, feature[None], axis=0)[0]
            split = may_split & np.isfinite(best_proxy)
            self._record(stage, level, split, feature, threshold, best_proxy - parent_term, gains)
            at = node + np.arange(0, num_trees * num_nodes, num_nodes, dtype=np.int64)[:, None]
            feature = np.take(np.where(split, feature * n, 0), at) + np.arange(n)
            threshold = np.take(np.where(split, threshold, np.inf), at)
            node = 2 * node + (np.take(self._x, feature) > threshold)
        return node.T, gains

    def _best_splits(self, f, values, node, total, count):
        """Best squared-error proxy gL^2 / nL + gR^2 / nR per tree and node [T, N] over the
        splits of feature ``f`` after each of its sorted positions, and their thresholds;
        ``values``: the residuals [T, n] in the order of the feature."""
        num_trees, n = values.shape
        num_nodes = total.shape[1]
        sizes = count.astype(np.int64).ravel()
        start = np.cumsum(sizes) - sizes  # of each node's segment in the flat [T * n] order
        if num_nodes == 1:
            left = np.cumsum(values, axis=1)
            n_left = np.arange(1.0, n + 1.0)
            node_sum, n_right = total, count - n_left
            ordered = np.broadcast_to(self._sorted[f], values.shape)
        else:  # each node a contiguous segment of the row, in the feature's order within it
            group = np.argsort(np.take(node, self._order[f], axis=1), axis=1,
                               kind="stable")  # a radix sort of int8
            group += np.arange(0, num_trees * n, n)[:, None]  # flat indices
            left = np.cumsum(np.take(values, group), axis=1)
            flat = left.reshape(-1)
            before = np.where(start % n > 0, flat[np.maximum(start - 1, 0)], 0.0)
            left -= np.repeat(before, sizes).reshape(num_trees, n)
            n_left = np.repeat(start % n - 1.0, sizes).reshape(num_trees, n)
            np.subtract(np.arange(n), n_left, out=n_left)
            node_sum = np.repeat(total.ravel(), sizes).reshape(num_trees, n)
            n_right = np.repeat(count.ravel(), sizes).reshape(num_trees, n)
            n_right -= n_left
            group %= n
            ordered = np.take(self._sorted[f], group)
        proxy = _split_proxy(left, n_left, node_sum, n_right)
        # no split between equal values, nor after the last sample of a node
        proxy[:, :-1][ordered[:, :-1] >= ordered[:, 1:]] = -np.inf
        proxy.reshape(-1)[(start + sizes - 1)[sizes > 0]] = -np.inf
        position = _segment_argmax(proxy, sizes, start)  # [T * N], flat
        best = proxy.reshape(-1)[position]
        ordered = ordered.reshape(-1)
        low, high = ordered[position], ordered[np.minimum(position + 1, ordered.size - 1)]
        threshold = low / 2.0 + high / 2.0  # scikit-learn's midpoint, and its fallback
        threshold = np.where(np.isfinite(threshold) & (threshold != high), threshold, low)
        return best.reshape(total.shape), threshold.reshape(total.shape)


def _segment_argmax(values, sizes, start):
    """Flat index of the first maximum of each segment of ``values`` (flattened), the
    segments tiling it in order with lengths ``sizes`` and offsets ``start``; an empty
    segment gets its start (clipped)."""
    flat = values.reshape(-1)
    full = sizes > 0
    best = np.maximum.reduceat(flat, start[full])
    hits = np.flatnonzero(flat == np.repeat(best, sizes[full]))
    position = np.minimum(start, flat.size - 1)
    position[full] = hits[np.searchsorted(hits, start[full])]
    return position


class BinnedGradientBoostingClassifier(_BoostedTrees):
    """Gradient-boosted depth-``max_depth`` trees on binned features (see module doc)."""

    def __init__(self, n_estimators=100, learning_rate=0.1, max_depth=3, max_bins=256,
                 random_state=0):
        super().__init__(n_estimators, learning_rate, max_depth, random_state)
        self.max_bins = max_bins

    def _prepare(self, x):
        n, num_features = x.shape
        binning = [_bins_of(x[:, f], self.max_bins) for f in range(num_features)]
        self._bins = np.stack([np.searchsorted(e, x[:, f], side="left")
                               for f, (e, _, _) in enumerate(binning)], axis=1)
        self._num_bins = max(len(e) for e, _, _ in binning) + 1
        self._bin_min = np.full((num_features, self._num_bins), np.inf)
        self._bin_max = np.full((num_features, self._num_bins), -np.inf)
        for f, (e, lo, hi) in enumerate(binning):
            self._bin_min[f, :len(lo)], self._bin_max[f, :len(hi)] = lo, hi
        # (feature, bin) one-hot per sample, [F * B, n]: histograms are products with it
        self._onehot = sparse.csr_matrix(
            (np.ones(n * num_features),
             (((np.arange(num_features) * self._num_bins)[None, :] + self._bins).ravel(),
              np.repeat(np.arange(n), num_features))),
            shape=(num_features * self._num_bins, n))

    def _release(self):
        del self._bins, self._onehot

    def _grow(self, residual, stage, rng):
        """Grow one depth-``max_depth`` tree per column of ``residual``, all at once.

        Returns the leaf of every sample [n, T] and the squared-error decrease per tree and
        feature [T, F] (trees that never split contribute zeros).
        """
        onehot, bins, num_bins = self._onehot, self._bins, self._num_bins
        n, num_trees = residual.shape
        num_features = bins.shape[1]
        rows = np.arange(n)[:, None]
        tree = np.arange(num_trees)[None, :]
        node = np.zeros((n, num_trees), dtype=np.int64)
        gains = np.zeros((num_trees, num_features))
        hist_shape = (num_features, num_bins, num_trees)
        for level in range(self.max_depth):
            num_nodes = 2 ** level
            # per (feature, bin, tree, node): sum of residuals and count of samples
            if level == 0:
                stats = np.concatenate([residual, np.ones_like(residual)], axis=1)
                hist = (onehot @ stats).reshape(num_features, num_bins, 2, num_trees, 1)
                grad, count = hist[:, :, 0], hist[:, :, 1]
            else:  # left children directly; a right child is its parent minus its sibling
                num_parents = num_nodes // 2
                stats = np.empty((n, 2, num_parents, num_trees))
                for parent in range(num_parents):
                    in_left = node == 2 * parent
                    stats[:, 1, parent] = in_left
                    np.multiply(in_left, residual, out=stats[:, 0, parent])
                hist = (onehot @ stats.reshape(n, -1)).reshape(
                    num_features, num_bins, 2, num_parents, num_trees).swapaxes(3, 4)
                grad = np.stack([hist[:, :, 0], grad - hist[:, :, 0]], axis=-1).reshape(
                    hist_shape + (num_nodes,))
                count = np.stack([hist[:, :, 1], count - hist[:, :, 1]], axis=-1).reshape(
                    hist_shape + (num_nodes,))

            grad_total, count_total, may_split, parent_term = self._node_stats(
                residual, node, num_nodes)
            # split after bin b (b < B - 1): left = bins <= b; [F, B-1, T, N]
            grad_left = np.cumsum(grad, axis=1)[:, :-1]
            count_left = np.cumsum(count, axis=1)[:, :-1]
            count_right = count_total - count_left
            invalid = ((count_left < self.min_samples_leaf)
                       | (count_right < self.min_samples_leaf))
            proxy = _split_proxy(grad_left, count_left, grad_total, count_right)
            proxy[invalid] = -np.inf
            feature, tied = self._pick_feature(proxy.max(axis=1), parent_term, rng)
            best_proxy = np.take_along_axis(proxy.max(axis=1), feature[None], axis=0)[0]
            split = may_split & np.isfinite(best_proxy)
            # within the feature: its lowest (near-)best threshold
            tolerance = _TIE_RTOL * np.maximum(np.abs(best_proxy - parent_term),
                                               np.abs(parent_term))
            pick = feature[None, None]
            near = np.take_along_axis(proxy, pick, axis=0)[0] >= best_proxy - tolerance
            cut = np.argmax(near, axis=0)  # last left bin
            # the first non-empty bin right of the cut, to put the threshold mid-gap
            cum = np.take_along_axis(count_left, pick, axis=0)[0]  # [B-1, T, N]
            at_cut = np.take_along_axis(cum, cut[None], axis=0)
            next_bin = np.minimum(np.sum(cum <= at_cut, axis=0), num_bins - 1)
            threshold = (self._bin_max[feature, cut] + self._bin_min[feature, next_bin]) / 2
            self._record(stage, level, split, feature, threshold, best_proxy - parent_term, gains)
            cut = np.where(split, cut, num_bins)  # no split: everything goes left
            go_right = bins[rows, np.where(split, feature, 0)[tree, node]] > cut[tree, node]
            node = 2 * node + go_right
        return node, gains


def _split_proxy(grad_left, count_left, grad_total, count_right):
    """gL^2 / nL + (g - gL)^2 / nR: a split's squared-error decrease plus the parent's
    g^2 / n (an empty side gives nan or inf). Overwrites ``grad_left`` (memory)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        proxy = grad_left ** 2
        proxy /= count_left
        grad_left -= grad_total
        grad_left **= 2
        grad_left /= count_right
        proxy += grad_left
    return proxy


def _as_features(x):
    """Features rounded to float32, as scikit-learn's trees see them (its thresholds are
    midpoints of float32 values), held as float64."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def _probabilities(raw):
    if raw.shape[1] == 1:
        return 1.0 / (1.0 + np.exp(-raw))
    e = np.exp(raw - raw.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
