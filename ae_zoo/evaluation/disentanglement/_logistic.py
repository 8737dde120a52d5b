"""One-vs-rest L2 logistic regression with the C chosen by cross-validation, for the
downstream task (private).

The model of disentanglement_lib's ``logistic_regression_cv``, scikit-learn's
``LogisticRegressionCV(Cs=10, cv=KFold(5))`` under the scikit-learn of its day (one-vs-rest
with lbfgs): per class k a binary problem, min_w C sum_i log(1 + exp(-s_i (x_i w + b))) +
||w||^2 / 2 (s_i = +-1, the intercept b unpenalized), for C in logspace(-4, 4, 10); the C
with the best accuracy summed over 5 unshuffled folds (the first on ties) is refitted on
all points; a point gets the class with the largest x w_k + b_k (one problem for two
classes). Written again so that all classes, folds and values of C are solved together by
Newton's method with a backtracking line search, instead of 500 small lbfgs fits per
factor: each problem is strictly convex, so both reach its unique optimum (scikit-learn's
lbfgs stops after 100 iterations, which on separable data and large C can leave it short).
"""

import numpy as np
from scipy.special import expit

_CS = np.logspace(-4, 4, 10)
_FOLDS = 5
_MAX_ITER = 100
_TOL = 1e-6


def _objective(design, targets, weights, c, coef):
    """Per problem [P]: c * sum_i weight_i * logloss_i + ||w||^2 / 2 (no intercept)."""
    z = coef @ design.T  # [P, n]
    loss = np.logaddexp(0.0, -np.where(targets > 0, z, -z))
    return c * np.sum(weights * loss, axis=1) + 0.5 * np.sum(coef[:, :-1] ** 2, axis=1)


def _newton(design, targets, weights, c, coef):
    """Minimizes each problem's objective from ``coef`` [P, D + 1]; ``targets`` [P, n] in
    {0, 1}, ``weights`` [P, n] (0 leaves a point out), ``c`` [P]."""
    dims = design.shape[1]
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), dims * dims)
    penalty = np.ones(dims)
    penalty[-1] = 1e-12  # the intercept is not penalized; a tiny ridge keeps H invertible
    value = _objective(design, targets, weights, c, coef)
    active = np.ones(len(coef), dtype=bool)
    for _ in range(_MAX_ITER):
        if not active.any():
            break
        rows = np.flatnonzero(active)
        prob = expit(coef[rows] @ design.T)
        scale = c[rows, None] * weights[rows]
        gradient = (scale * (prob - targets[rows])) @ design
        gradient[:, :-1] += coef[rows, :-1]
        hessian = ((scale * prob * (1.0 - prob)) @ outer).reshape(-1, dims, dims)
        hessian += np.eye(dims) * penalty
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        size = np.ones(len(rows))
        for _ in range(30):  # halve the step until the objective does not increase
            trial = coef[rows] - size[:, None] * step
            new = _objective(design, targets[rows], weights[rows], c[rows], trial)
            worse = new > value[rows] + 1e-12 * np.abs(value[rows])
            if not worse.any():
                break
            size[worse] /= 2.0
        coef[rows] = trial
        done = (np.max(np.abs(size[:, None] * step), axis=1) < _TOL) | (
            value[rows] - new <= 1e-12 * np.abs(value[rows]))
        value[rows] = new
        active[rows[done]] = False
    return coef


def _fold_weights(n):
    """[F, n] training weights of scikit-learn's ``KFold(5)`` (unshuffled; the first n % 5
    folds one point larger) and [F, n] masks of the held-out points."""
    sizes = np.full(_FOLDS, n // _FOLDS)
    sizes[:n % _FOLDS] += 1
    held_out = np.zeros((_FOLDS, n), dtype=bool)
    for f, (start, size) in enumerate(zip(np.cumsum(sizes) - sizes, sizes)):
        held_out[f, start:start + size] = True
    return (~held_out).astype(np.float64), held_out


class LogisticRegressionCV:
    """``fit(x, y)`` / ``predict(x)`` of the one-vs-rest cross-validated logistic
    regression in the module docstring."""

    def fit(self, x, y):
        x = np.asarray(x, dtype=np.float64)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("need at least two classes to fit a classifier.")
        columns = [1] if len(self.classes_) == 2 else range(len(self.classes_))
        targets = (y_index[None, :] == np.asarray(columns)[:, None]).astype(np.float64)  # [K, n]
        design = np.hstack([x, np.ones((len(x), 1))])
        train, held_out = _fold_weights(len(x))
        num_classes, num_folds = len(targets), len(train)
        # problems: (fold, class), all C values in turn, each warm-started from the last
        fold_targets = np.tile(targets, (num_folds, 1))
        fold_weights = np.repeat(train, num_classes, axis=0)
        fold_mask = np.repeat(held_out, num_classes, axis=0)
        coef = np.zeros((num_folds * num_classes, design.shape[1]))
        correct = np.zeros((len(_CS), num_folds * num_classes))
        for i, c in enumerate(_CS):
            coef = _newton(design, fold_targets, fold_weights, np.full(len(coef), c), coef)
            hit = ((coef @ design.T) > 0) == (fold_targets > 0)
            correct[i] = np.sum(hit & fold_mask, axis=1) / np.sum(fold_mask, axis=1)
        accuracy = correct.reshape(len(_CS), num_folds, num_classes).sum(axis=1)  # [C, K]
        self.C_ = _CS[np.argmax(accuracy, axis=0)]
        start = coef.reshape(num_folds, num_classes, -1).mean(axis=0)
        self.coef_ = _newton(design, targets, np.ones_like(targets), self.C_, start)
        return self

    def decision_function(self, x):
        x = np.asarray(x, dtype=np.float64)
        return x @ self.coef_[:, :-1].T + self.coef_[:, -1]

    def predict(self, x):
        scores = self.decision_function(x)
        if scores.shape[1] == 1:
            return self.classes_[(scores[:, 0] > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]
