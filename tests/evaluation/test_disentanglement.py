"""Disentanglement metrics on tiny ground truths whose observations are the factors."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mutual_info_score

from ae_zoo.evaluation import disentanglement as dm
from ae_zoo.evaluation.disentanglement import _common as common
from ae_zoo.evaluation.disentanglement import importance, information, unsupervised

FACTOR_SIZES = (4, 5, 6)
K = len(FACTOR_SIZES)
# small settings: the whole file runs in well under a minute
SMALL = dict(num_train=1000, num_eval=500, num_test=500, num_variance_estimate=1000,
             batch_size=128,
             downstream_task={"num_train": (100, 1000), "efficiency_sizes": (100, 1000)})


class FactorData:
    """Ground truth whose observation is the factor vector itself plus a little noise."""

    def __init__(self, factor_sizes=FACTOR_SIZES, noise=0.01):
        self.factor_sizes = factor_sizes
        self.noise = noise
        self.largest_batch = 0

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        self.largest_batch = max(self.largest_batch, len(factors))
        scaled = factors / (np.asarray(self.factor_sizes) - 1.0)  # each factor in [0, 1]
        return scaled + self.noise * random_state.randn(*factors.shape)


def identity(x):
    return np.asarray(x, dtype=np.float64)


def permuted(perm):
    return lambda x: np.asarray(x)[:, perm]


def random_codes(dims=K, seed=123):
    """Codes drawn independently of the observations."""
    rng = np.random.RandomState(seed)
    return lambda x: rng.randn(len(x), dims)


def rotated(angle=np.pi / 4):
    """Factors 0 and 1 mixed by a rotation; factor 2 kept as it is."""
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return lambda x: np.asarray(x) @ rotation.T


def run_all(representation, seed=0, data=None, **overrides):
    return dm.compute_all(data or FactorData(), representation, seed, **{**SMALL, **overrides})


@pytest.fixture(scope="module")
def truth_scores():
    return run_all(identity)


@pytest.fixture(scope="module")
def random_scores():
    return run_all(random_codes())


# ----------------------------------------------------------------------------- interface


def test_compute_all_returns_named_floats(truth_scores):
    expected = {
        "beta_vae_score.train_accuracy", "beta_vae_score.eval_accuracy",
        "factor_vae_score.train_accuracy", "factor_vae_score.eval_accuracy",
        "factor_vae_score.num_active_dims", "mig.mig",
        "dci.disentanglement", "dci.completeness", "dci.informativeness_train",
        "dci.informativeness_test", "sap.sap", "modularity_explicitness.modularity",
        "modularity_explicitness.explicitness_train",
        "modularity_explicitness.explicitness_test",
        "unsupervised_scores.gaussian_total_correlation",
        "unsupervised_scores.gaussian_wasserstein_correlation",
        "unsupervised_scores.gaussian_wasserstein_correlation_norm",
        "unsupervised_scores.mutual_info_score",
        "irs.irs", "irs.num_active_dims",
    } | {f"mig.mig_per_factor_{k}" for k in range(K)} | {
        f"downstream_task.{p}_{key}" for p in ("lr", "gbt")
        for key in ["test_accuracy", "sample_efficiency"] + [
            f"{n}_{what}" for n in (100, 1000)
            for what in ["test_accuracy", "train_accuracy", "min_test_accuracy"]
            + [f"test_accuracy_factor_{k}" for k in range(K)]]}
    assert set(truth_scores) == expected
    assert all(type(v) is float and math.isfinite(v) for v in truth_scores.values())


def test_observations_are_rendered_in_batches():
    data = FactorData()
    sizes = []

    def represent(x):
        sizes.append(len(x))
        return identity(x)

    run_all(represent, data=data, batch_size=50)
    assert data.largest_batch <= 50 and max(sizes) <= 50


def test_metric_seed_does_not_depend_on_the_other_metrics_run(truth_scores):
    alone = dm.compute_all(FactorData(), identity, 0, metrics=["mig", "sap"], **{
        k: v for k, v in SMALL.items() if k in ("num_train", "num_test", "batch_size")})
    assert alone == {k: v for k, v in truth_scores.items() if k.startswith(("mig.", "sap."))}


def test_compute_all_routes_overrides():
    scores = dm.compute_all(FactorData(), identity, 0, metrics=["mig", "dci"], num_train=300,
                            num_test=200, dci={"num_train": 400, "max_bins": 16})
    assert set(scores) >= {"mig.mig", "dci.disentanglement"}
    with pytest.raises(TypeError, match="no metric has a setting 'num_trian'"):
        dm.compute_all(FactorData(), identity, 0, metrics=["mig"], num_trian=10)
    with pytest.raises(TypeError, match="unexpected keyword"):  # per-metric typo
        dm.compute_all(FactorData(), identity, 0, metrics=["mig"], mig={"num_trian": 10})
    with pytest.raises(ValueError, match="unknown metric"):
        dm.compute_all(FactorData(), identity, 0, metrics=["mig", "jemmig"])


# ----------------------------------------------------------------------------- behaviour


def test_ground_truth_factors_score_near_the_maximum(truth_scores):
    s = truth_scores
    assert s["beta_vae_score.eval_accuracy"] > 0.97
    assert s["factor_vae_score.eval_accuracy"] > 0.97
    assert s["factor_vae_score.num_active_dims"] == K
    assert s["mig.mig"] > 0.9
    assert s["dci.disentanglement"] > 0.95 and s["dci.completeness"] > 0.95
    assert s["dci.informativeness_test"] > 0.95
    assert s["modularity_explicitness.modularity"] > 0.95
    assert s["modularity_explicitness.explicitness_test"] > 0.9
    # a linear SVM on one code cannot separate the middle values of a factor, so SAP stays
    # well below 1 even here; it must still be clearly positive
    assert s["sap.sap"] > 0.15
    assert s["unsupervised_scores.gaussian_total_correlation"] < 0.02


def test_random_codes_score_near_zero_or_chance(random_scores):
    s = random_scores
    assert s["mig.mig"] < 0.05
    assert s["sap.sap"] < 0.05
    assert s["dci.disentanglement"] < 0.2
    assert s["modularity_explicitness.explicitness_test"] < 0.6
    assert abs(s["beta_vae_score.eval_accuracy"] - 1 / K) < 0.1
    assert s["factor_vae_score.eval_accuracy"] < 1 / K + 0.15


def test_entangled_codes_score_lower_than_the_factors(truth_scores):
    s = run_all(rotated(), metrics=["mig", "dci", "modularity_explicitness"])
    assert s["mig.mig"] < truth_scores["mig.mig"] - 0.2
    assert s["dci.disentanglement"] < truth_scores["dci.disentanglement"] - 0.2
    assert s["dci.completeness"] < truth_scores["dci.completeness"] - 0.2
    assert s["modularity_explicitness.modularity"] < truth_scores[
        "modularity_explicitness.modularity"] - 0.1


def test_permuting_code_dimensions_leaves_every_score_unchanged():
    # a noisy mixed representation, so that no score is trivially at its bound
    mixing = np.eye(K) + 0.4 * np.random.RandomState(7).randn(K, K)
    base = run_all(lambda x: np.asarray(x) @ mixing)
    perm = [2, 0, 1]
    swapped = run_all(lambda x: (np.asarray(x) @ mixing)[:, perm])
    # Exact up to floating-point summation order: every metric treats code dimensions
    # symmetrically, SAP gives every single-code SVM the same seed, and DCI's trees break
    # split ties by a key of each code's values, not its index (sklearn's
    # GradientBoostingClassifier, estimator="gbt", breaks them by a random feature order and
    # is not exactly permutation invariant). The logistic regressions (BetaVAE,
    # explicitness) see permuted columns; their solutions agree to ~1e-12.
    assert swapped.keys() == base.keys()
    for key, value in base.items():
        if key.startswith("mig.mig_per_factor"):
            continue
        assert swapped[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_same_seed_same_scores(truth_scores):
    assert run_all(identity) == truth_scores
    data = FactorData()
    a = dm.mig(data, rotated(), np.random.RandomState(5), num_train=500)
    b = dm.mig(data, rotated(), 5, num_train=500)
    c = dm.mig(data, rotated(), 6, num_train=500)
    assert a == b and a != c


def test_dci_in_threads_gives_the_same_scores():
    common = dict(num_train=300, num_test=200)
    assert dm.dci(FactorData(), rotated(), 0, n_jobs=2, **common) == dm.dci(
        FactorData(), rotated(), 0, **common)


def test_factor_vae_with_no_active_dimension_scores_zero():
    scores = dm.factor_vae_score(FactorData(), lambda x: 1e-3 * identity(x), 0,
                                 num_train=20, num_eval=20, num_variance_estimate=200)
    assert scores == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}


def test_dci_accepts_sklearn_classifiers():
    from sklearn.tree import DecisionTreeClassifier

    common = dict(num_train=300, num_test=200)
    tree = dm.dci(FactorData(), identity, 0,
                  estimator=DecisionTreeClassifier(max_depth=6, random_state=0), **common)
    gbt = dm.dci(FactorData(), identity, 0, estimator="gbt", **common)
    assert tree["disentanglement"] > 0.9 and gbt["disentanglement"] > 0.9
    with pytest.raises(ValueError, match="estimator must be"):
        dm.dci(FactorData(), identity, 0, estimator="xgboost")


# ----------------------------------------------------------------------------- references


def _brute_force_mi(x, y):
    n = len(x)
    total = 0.0
    for a in np.unique(x):
        for b in np.unique(y):
            pab = np.sum((x == a) & (y == b)) / n
            if pab > 0:
                total += pab * np.log(pab / (np.mean(x == a) * np.mean(y == b)))
    return total


def test_mutual_info_and_entropy_match_brute_force():
    rng = np.random.RandomState(0)
    x = rng.randint(0, 4, size=200)
    y = (x + rng.randint(0, 3, size=200)) % 5
    assert common._mutual_info(x, y) == pytest.approx(_brute_force_mi(x, y), abs=1e-12)
    assert common._mutual_info(x, y) == pytest.approx(mutual_info_score(x, y), abs=1e-12)
    p = np.bincount(x) / len(x)
    assert common._entropy(x) == pytest.approx(-np.sum(p * np.log(p)), abs=1e-12)
    assert common._mutual_info(x, x) == pytest.approx(common._entropy(x), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-2, 2)), min_size=1, max_size=60))
def test_mutual_info_properties(pairs):
    x, y = map(np.array, zip(*pairs))
    mi = common._mutual_info(x, y)
    assert mi == pytest.approx(_brute_force_mi(x, y), abs=1e-10)
    assert -1e-12 <= mi <= min(common._entropy(x), common._entropy(y)) + 1e-10


def test_discretize_uses_equal_width_histogram_bins():
    codes = np.random.RandomState(1).randn(500, 2)
    binned = common._discretize(codes, 20)
    for d in range(2):
        counts, _ = np.histogram(codes[:, d], bins=20)
        np.testing.assert_array_equal(np.bincount(binned[:, d], minlength=20), counts)


@pytest.mark.parametrize("r", [0.0, 0.3, -0.8, 0.99])
def test_gaussian_total_correlation_of_a_known_covariance(r):
    cov = np.array([[1.0, r], [r, 1.0]]) * np.array([2.0, 0.5])[:, None] * [2.0, 0.5]
    assert unsupervised._gaussian_total_correlation(cov) == pytest.approx(-0.5 * np.log(1 - r ** 2))
    expected_w2 = 2 * np.trace(cov) - 2 * np.trace(
        scipy.linalg.sqrtm(np.diag(np.sqrt(np.diag(cov))) @ cov
                           @ np.diag(np.sqrt(np.diag(cov)))).real)
    assert unsupervised._gaussian_wasserstein_correlation(cov) == pytest.approx(expected_w2, abs=1e-10)


def test_gaussian_total_correlation_direct_formula():
    a = np.random.RandomState(3).randn(4, 4)
    cov = a @ a.T + np.eye(4)
    direct = 0.5 * (np.sum(np.log(np.diag(cov))) - np.log(np.linalg.det(cov)))
    assert unsupervised._gaussian_total_correlation(cov) == pytest.approx(direct, rel=1e-12)


def test_unsupervised_scores_on_correlated_gaussian_codes():
    r = 0.6
    chol = np.linalg.cholesky(np.array([[1.0, r], [r, 1.0]]))
    rng = np.random.RandomState(0)
    scores = dm.unsupervised_scores(FactorData(), lambda x: rng.randn(len(x), 2) @ chol.T, 0,
                                    num_train=20000)
    assert scores["gaussian_total_correlation"] == pytest.approx(-0.5 * np.log(1 - r ** 2),
                                                                 abs=0.02)


def test_dci_of_hand_built_importance_matrices():
    assert importance._dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    assert importance._dci_from_importance(np.ones((4, 3))) == pytest.approx((0.0, 0.0), abs=1e-12)
    # both codes explain factor 0 only: disentangled codes, but factor 0 is not complete
    assert importance._dci_from_importance([[1.0, 0.0], [1.0, 0.0]]) == pytest.approx((1.0, 0.0))
    rng = np.random.RandomState(0)
    r = rng.rand(5, 3)
    d = np.sum(r.sum(1) / r.sum() * (1 - scipy.stats.entropy(r.T, base=3)))
    c = np.sum(r.sum(0) / r.sum() * (1 - scipy.stats.entropy(r, base=5)))
    assert importance._dci_from_importance(r) == pytest.approx((d, c), abs=1e-12)


def test_modularity_of_hand_built_mutual_information():
    assert information._modularity(np.eye(3)) == pytest.approx(1.0)
    # the second code is equally informative about every factor: delta = 1
    assert information._modularity([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5]]) == pytest.approx(0.5)
    m = np.array([[0.8, 0.2, 0.1]])
    delta = (0.2 ** 2 + 0.1 ** 2) / (0.8 ** 2 * 2)
    assert information._modularity(m) == pytest.approx(1 - delta)


# ----------------------------------------------------------------------------- bad input


class Missing:
    def __init__(self, drop):
        data = FactorData()
        for name in ("factor_sizes", "sample_factors", "sample_observations_from_factors"):
            if name != drop:
                setattr(self, name, getattr(data, name))


@pytest.mark.parametrize("metric", list(dm.METRICS.values()))
@pytest.mark.parametrize("drop", ["factor_sizes", "sample_factors",
                                  "sample_observations_from_factors"])
def test_missing_ground_truth_attribute_is_a_type_error(metric, drop):
    with pytest.raises(TypeError, match=drop):
        metric(Missing(drop), identity, 0)


@pytest.mark.parametrize("metric", list(dm.METRICS.values()))
@pytest.mark.parametrize("output, message", [
    (lambda x: np.full((len(x), 3), np.nan), "NaN"),
    (lambda x: np.zeros(len(x)), r"returned shape \(\d+,\)"),
    (lambda x: np.zeros((len(x) + 1, 3)), "expected"),
    (lambda x: (np.zeros((len(x), 3)), np.ones((len(x), 3))), "tuple-returning encoder"),
])
def test_bad_representation_output_is_a_value_error(metric, output, message):
    with pytest.raises(ValueError, match=message):
        metric(FactorData(), output, 0, num_train=50)


def test_code_dimension_must_not_change_between_batches():
    calls = iter(range(10 ** 6))
    with pytest.raises(ValueError, match="same for every batch"):
        dm.mig(FactorData(), lambda x: np.zeros((len(x), 2 + next(calls) % 2)), 0,
               num_train=100, batch_size=10)


def test_other_bad_arguments():
    with pytest.raises(TypeError, match="random_state"):
        dm.mig(FactorData(), identity, None)
    with pytest.raises(TypeError, match="representation_function"):
        dm.mig(FactorData(), "encoder", 0)
    with pytest.raises(ValueError, match="factor 1 has size 1"):
        dm.mig(FactorData(factor_sizes=(3, 1)), identity, 0)
    with pytest.raises(ValueError, match="num_train"):
        dm.sap(FactorData(), identity, 0, num_train=0)

    class OutOfRange(FactorData):
        def sample_factors(self, num, random_state):
            return super().sample_factors(num, random_state) + 10

    with pytest.raises(ValueError, match=r"\[0, factor_size\)"):
        dm.mig(OutOfRange(), identity, 0)
