"""The classifiers written again for speed, against scikit-learn's: the exact and the binned
gradient-boosted trees (DCI, downstream task) and the cross-validated one-vs-rest logistic
regression (downstream task)."""

import warnings

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegressionCV as SklearnLogisticRegressionCV
from sklearn.model_selection import KFold
from sklearn.multiclass import OneVsRestClassifier

from ae_zoo.evaluation.disentanglement._gbt import (
    BinnedGradientBoostingClassifier,
    ExactGradientBoostingClassifier,
)
from ae_zoo.evaluation.disentanglement._logistic import LogisticRegressionCV


def _sklearn_decision(model, x):
    return model.decision_function(x).reshape(len(x), -1)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_binned_gbt_matches_sklearn_when_bins_are_exact(num_classes):
    """With few distinct values per feature every threshold is a candidate: same model."""
    rng = np.random.RandomState(0)
    x = rng.randint(0, 30, size=(400, 3)).astype(float) + rng.rand(3)
    y = (x[:, 0] + 0.5 * x[:, 1] + 4 * rng.randn(400)).astype(int) % num_classes
    ours = BinnedGradientBoostingClassifier(n_estimators=30, random_state=0).fit(x, y)
    theirs = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(x, y)
    np.testing.assert_allclose(ours.decision_function(x), _sklearn_decision(theirs, x), atol=1e-9)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))
    # tiny nodes can be split identically by two features; which one gets the credit is a
    # tie, broken differently (sklearn: random feature order)
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_,
                               atol=0.02)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_exact_gbt_matches_sklearn_on_continuous_features(num_classes):
    """Every threshold of continuous features: the ensemble fits the training points as
    sklearn's does; unseen points fall the same way except where two features split a
    node's points identically (a tie, broken differently)."""
    rng = np.random.RandomState(1)
    x = rng.randn(300, 3)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.randn(300)).astype(int) % num_classes
    ours = ExactGradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, y)
    theirs = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, y)
    np.testing.assert_allclose(ours.decision_function(x), _sklearn_decision(theirs, x), atol=1e-9)
    np.testing.assert_array_equal(ours.train_predictions_, theirs.predict(x))
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, atol=0.02)
    unseen = rng.randn(1000, 3)
    assert np.mean(ours.predict(unseen) == theirs.predict(unseen)) > 0.95


def test_exact_gbt_with_tied_values_splits_between_runs_of_equal_values():
    """A feature with many equal values: a split never separates equal values, and the
    model stays close to sklearn's (equal-gain splits of different points are frequent
    here, and each side breaks them its own way)."""
    x = np.repeat([[0.0], [1.0], [2.0]], 50, axis=0)
    y = np.r_[np.zeros(70), np.ones(80)].astype(int)  # the best cut, 70, is inside a run
    stump = ExactGradientBoostingClassifier(n_estimators=1, max_depth=1).fit(x, y)
    assert stump.split_threshold_[0, 0, 0] in (0.5, 1.5)
    rng = np.random.RandomState(1)
    x = rng.randn(300, 3)
    x[:, 1] = np.round(x[:, 1], 1)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.randn(300)).astype(int) % 3
    ours = ExactGradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, y)
    theirs = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, y)
    np.testing.assert_allclose(ours.decision_function(x), _sklearn_decision(theirs, x), atol=0.05)
    assert np.mean(ours.train_predictions_ == theirs.predict(x)) > 0.98


def test_exact_gbt_thresholds_are_sklearns_midpoints():
    rng = np.random.RandomState(2)
    x = rng.rand(200, 2)
    y = (x[:, 0] > 0.5).astype(int)
    ours = ExactGradientBoostingClassifier(n_estimators=1).fit(x, y)
    theirs = GradientBoostingClassifier(n_estimators=1).fit(x, y)
    xs = np.sort(x[:, 0].astype(np.float32)).astype(np.float64)  # sklearn's float32 features
    gap = np.searchsorted(xs, 0.5)
    assert ours.split_feature_[0, 0, 0] == theirs.estimators_[0, 0].tree_.feature[0] == 0
    assert ours.split_threshold_[0, 0, 0] == pytest.approx(
        xs[gap - 1] / 2.0 + xs[gap] / 2.0, abs=1e-12)
    assert ours.split_threshold_[0, 0, 0] == pytest.approx(
        theirs.estimators_[0, 0].tree_.threshold[0], abs=1e-12)


def test_exact_gbt_does_not_depend_on_the_column_order():
    rng = np.random.RandomState(3)
    x = rng.randn(200, 4)
    y = rng.randint(0, 4, size=200)
    perm = [2, 0, 3, 1]
    a = ExactGradientBoostingClassifier(n_estimators=10, random_state=5).fit(x, y)
    b = ExactGradientBoostingClassifier(n_estimators=10, random_state=5).fit(x[:, perm], y)
    np.testing.assert_allclose(a.feature_importances_[perm], b.feature_importances_, atol=1e-12)
    np.testing.assert_allclose(a.decision_function(x), b.decision_function(x[:, perm]),
                               atol=1e-12)


def _sklearn_logistic_cv(x, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OneVsRestClassifier(SklearnLogisticRegressionCV(Cs=10, cv=KFold(5))).fit(x, y)


@pytest.mark.parametrize("num_classes", [2, 4])
def test_logistic_regression_cv_matches_sklearns_one_vs_rest(num_classes):
    """The same C per class, coefficients and predictions as sklearn's one-vs-rest
    LogisticRegressionCV(Cs=10, cv=KFold(5)) where lbfgs converges."""
    rng = np.random.RandomState(0)
    x = rng.randn(300, 3)
    y = np.argmax(x @ rng.randn(3, num_classes) + rng.randn(300, num_classes), axis=1)
    ours = LogisticRegressionCV().fit(x, y)
    theirs = _sklearn_logistic_cv(x, y)
    estimators = theirs.estimators_
    np.testing.assert_allclose(ours.C_, [float(e.C_[0]) for e in estimators])
    coef = np.array([np.append(e.coef_[0], e.intercept_[0]) for e in estimators])
    np.testing.assert_allclose(ours.coef_, coef, rtol=2e-3, atol=2e-3)
    unseen = rng.randn(500, 3)
    assert np.mean(ours.predict(unseen) == theirs.predict(unseen)) > 0.99


def test_logistic_regression_cv_on_few_points_with_folds_missing_a_class():
    """20 points of 4 classes (some folds lack a class): a model as good as sklearn's on
    unseen points (there lbfgs stops early on separable folds, so the two differ)."""
    rng = np.random.RandomState(4)
    centres = 3 * rng.randn(4, 2)
    y = np.repeat(np.arange(4), 5)
    x = centres[y] + rng.randn(20, 2)
    ours = LogisticRegressionCV().fit(x, y)
    theirs = _sklearn_logistic_cv(x, y)
    y_new = rng.randint(0, 4, size=500)
    x_new = centres[y_new] + rng.randn(500, 2)
    ours_accuracy = np.mean(ours.predict(x_new) == y_new)
    assert ours_accuracy > 0.6
    assert ours_accuracy == pytest.approx(np.mean(theirs.predict(x_new) == y_new), abs=0.1)
    with pytest.raises(ValueError, match="two classes"):
        LogisticRegressionCV().fit(x, np.zeros(20))
