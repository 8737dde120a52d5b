"""The metrics added for Locatello et al.'s findings: IRS, the downstream task, UDR and the
unsupervised scores of the sampled representation, each against an independent numpy /
scikit-learn computation on a tiny case and on toy representations of a toy ground truth."""

import numpy as np
import pytest
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import Lasso

from ae_zoo.evaluation import disentanglement as dm
from tests.evaluation.test_disentanglement import FactorData, identity, random_codes, rotated

SIZES = (3, 4, 5)


def exact_data():
    """Observations that are the scaled factors (no noise): only the factors use the
    random state, so a test can draw the same points."""
    return FactorData(SIZES, noise=0.0)


def draw(data, num, rs):
    factors = data.sample_factors(num, rs)
    return factors, data.sample_observations_from_factors(factors, rs)


# --------------------------------------------------------------------------------- IRS


def _irs_reference(factors, codes, q=0.99):
    """IRS written out with loops over code dimensions and factors."""
    scores, weights = [], []
    for d in range(codes.shape[1]):
        z = codes[:, d]
        spread = np.max(np.abs(z - z.mean()))
        if spread == 0:
            continue
        best = -np.inf
        for k in range(factors.shape[1]):
            groups = [z[factors[:, k] == v] for v in np.unique(factors[:, k])]
            empida = np.mean([np.percentile(np.abs(g - g.mean()), 100 * q) for g in groups])
            best = max(best, 1 - empida / spread)
        scores.append(best)
        weights.append(spread)
    return np.average(scores, weights=weights)


def test_irs_against_a_direct_computation():
    mixing = np.eye(3) + 0.5 * np.random.RandomState(0).randn(3, 3)

    def represent(x):
        return np.c_[np.asarray(x) @ mixing, np.ones(len(x))]  # and a constant code

    scores = dm.irs(FactorData(SIZES), represent, 7, num_train=400, batch_size=400)
    rs = np.random.RandomState(7)
    factors, obs = draw(FactorData(SIZES), 400, rs)
    assert scores["irs"] == pytest.approx(_irs_reference(factors, represent(obs)), abs=1e-12)
    assert scores["num_active_dims"] == 3


def test_irs_identity_near_one_random_low_and_permutation_free():
    common = dict(num_train=2000, batch_size=500)
    truth = dm.irs(FactorData(SIZES), identity, 0, **common)["irs"]
    mixed = dm.irs(FactorData(SIZES), rotated(), 0, **common)["irs"]
    noise = dm.irs(FactorData(SIZES), random_codes(), 0, **common)["irs"]
    assert truth > 0.9 and noise < 0.45 and noise < mixed < truth
    swapped = dm.irs(FactorData(SIZES), lambda x: np.asarray(x)[:, [2, 0, 1]], 0, **common)
    assert swapped["irs"] == pytest.approx(truth, abs=1e-12)
    assert dm.irs(FactorData(SIZES), lambda x: np.zeros((len(x), 2)), 0, num_train=50) == {
        "irs": 0.0, "num_active_dims": 0.0}
    with pytest.raises(ValueError, match="diff_quantile"):
        dm.irs(FactorData(SIZES), identity, 0, diff_quantile=0.0)


# ----------------------------------------------------------------------- downstream task


def test_downstream_boosted_trees_against_sklearn():
    """With scikit-learn's own trees (estimator="gbt"), the accuracies are those of a direct
    fit on the same points: the metric draws train, then test points, then a seed, per size."""
    scores = dm.downstream_task(exact_data(), rotated(), 3, num_train=(20, 60), num_test=100,
                                predictors="boosted_trees", estimator="gbt",
                                efficiency_sizes=(20, 60), n_jobs=1)
    rs = np.random.RandomState(3)
    accuracy = {}
    for size in (20, 60):
        factors, obs = draw(exact_data(), size, rs)
        test_factors, test_obs = draw(exact_data(), 100, rs)
        seed = rs.randint(np.iinfo(np.int32).max)
        per_factor = []
        for k in range(len(SIZES)):
            model = GradientBoostingClassifier(random_state=seed).fit(rotated()(obs), factors[:, k])
            per_factor.append(np.mean(model.predict(rotated()(test_obs)) == test_factors[:, k]))
            assert scores[f"gbt_{size}_test_accuracy_factor_{k}"] == pytest.approx(per_factor[-1])
        accuracy[size] = np.mean(per_factor)
        assert scores[f"gbt_{size}_test_accuracy"] == pytest.approx(accuracy[size])
        assert scores[f"gbt_{size}_min_test_accuracy"] == pytest.approx(np.min(per_factor))
    assert scores["gbt_sample_efficiency"] == pytest.approx(accuracy[20] / accuracy[60])
    assert scores["gbt_test_accuracy"] == scores["gbt_60_test_accuracy"]
    assert not any(key.startswith("lr_") for key in scores)


def test_downstream_logistic_regression_is_sklearns_logistic_regression_cv():
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import KFold
    from sklearn.multiclass import OneVsRestClassifier

    scores = dm.downstream_task(exact_data(), rotated(), 5, num_train=120, num_test=300,
                                predictors="logistic_regression")
    rs = np.random.RandomState(5)
    factors, obs = draw(exact_data(), 120, rs)
    test_factors, test_obs = draw(exact_data(), 300, rs)
    for k in range(len(SIZES)):
        theirs = OneVsRestClassifier(LogisticRegressionCV(Cs=10, cv=KFold(5))).fit(
            rotated()(obs), factors[:, k])
        expected = np.mean(theirs.predict(rotated()(test_obs)) == test_factors[:, k])
        assert scores[f"lr_120_test_accuracy_factor_{k}"] == pytest.approx(expected, abs=0.03)
    assert "lr_sample_efficiency" not in scores  # 100 and 10,000 were not both trained


def test_downstream_identity_beats_random_codes():
    settings = dict(num_train=(10, 100, 500), num_test=300, efficiency_sizes=(10, 500))
    truth = dm.downstream_task(FactorData(SIZES), identity, 0, **settings)
    noise = dm.downstream_task(FactorData(SIZES), random_codes(), 0, **settings)
    # one-vs-rest linear classifiers cannot single out the middle values of a factor
    assert truth["lr_test_accuracy"] > 0.65 and truth["gbt_test_accuracy"] > 0.95
    for p in ("lr", "gbt"):
        assert noise[f"{p}_test_accuracy"] < np.mean(1 / np.array(SIZES)) + 0.1
        assert truth[f"{p}_sample_efficiency"] == pytest.approx(
            truth[f"{p}_10_test_accuracy"] / truth[f"{p}_500_test_accuracy"])
    swapped = dm.downstream_task(FactorData(SIZES), lambda x: np.asarray(x)[:, [1, 2, 0]], 0,
                                 **settings)
    assert swapped == pytest.approx(truth, abs=1e-9)
    with pytest.raises(ValueError, match="efficiency_sizes"):
        dm.downstream_task(FactorData(SIZES), identity, 0, efficiency_sizes=(10, 20, 30))
    with pytest.raises(ValueError, match="predictors"):
        dm.downstream_task(FactorData(SIZES), identity, 0, predictors=["svm"])
    with pytest.raises(ValueError, match="num_train"):
        dm.downstream_task(FactorData(SIZES), identity, 0, num_train=(10, 10))


# ------------------------------------------------------------------------------- UDR


def _relative_strength(r):
    """Duan et al.'s score of one correlation matrix, with explicit loops."""
    def side(m):
        values = [(col.max() ** 2 / col.sum()) if col.sum() > 0 else 0.0 for col in m.T]
        return np.mean(values)
    return (side(r) + side(r.T)) / 2


def _standardize(z):
    std = z.std(axis=0)
    return (z - z.mean(axis=0)) / np.where(std > 0, std, 1.0)


def test_udr_against_sklearn_lasso_and_the_median_rule():
    rng = np.random.RandomState(0)
    mixings = [np.eye(3), rng.randn(3, 3), np.eye(3)[[1, 2, 0]] + 0.1 * rng.randn(3, 3)]
    functions = [lambda x, m=m: np.asarray(x) @ m for m in mixings]
    scores = dm.udr(exact_data(), functions, 11, num_data_points=300, batch_size=300)
    _, obs = draw(exact_data(), 300, np.random.RandomState(11))
    codes = [_standardize(f(obs)) for f in functions]
    pairwise = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            if i != j:
                r = np.abs(Lasso(alpha=0.1).fit(codes[i], codes[j]).coef_).T
                pairwise[i, j] = _relative_strength(r)
    for i in range(3):
        others = [pairwise[j, i] for j in range(3) if j != i]
        assert scores[f"udr_{i}"] == pytest.approx(np.median(others), abs=1e-9)
    assert scores["pairwise_mean"] == pytest.approx(pairwise.sum() / 6, abs=1e-9)


def test_udr_spearman_and_the_kl_filter():
    """Posterior functions: dimensions whose mean KL is below the threshold are zeroed and
    dropped; Spearman correlations as scipy computes them."""
    def posterior(perm, scale_off):
        def f(x):
            x = np.asarray(x)
            mean = np.c_[x, np.zeros(len(x))][:, perm]  # a 4th, uninformative dimension
            scale = np.ones_like(mean)
            scale[:, perm.index(3)] = scale_off
            return mean, scale
        return f

    functions = [posterior([0, 1, 2, 3], 1.0), posterior([3, 2, 0, 1], 1.0)]
    scores = dm.udr(exact_data(), functions, 4, num_data_points=200, batch_size=100,
                    correlation_matrix="spearman")
    rs = np.random.RandomState(4)
    obs = np.concatenate([draw(exact_data(), 100, rs)[1] for _ in range(2)])
    a, b = obs, obs[:, [2, 0, 1]]
    rho = np.abs(scipy.stats.spearmanr(a, b).statistic[:3, 3:])
    assert scores["udr_0"] == pytest.approx(_relative_strength(rho), abs=1e-9)
    assert scores["udr_0"] > 0.85  # the same factors up to order: UDR is near 1


def test_udr_ranks_agreeing_runs_above_disagreeing_ones():
    data = FactorData(SIZES)
    same = [identity, lambda x: np.asarray(x)[:, [2, 0, 1]], lambda x: 2 * np.asarray(x)]
    agreeing = dm.udr(data, same, 0, num_data_points=500)
    noisy = dm.udr(data, [random_codes(seed=s) for s in range(3)], 0, num_data_points=500)
    mixed = dm.udr(data, [identity, rotated(), rotated(1.0)], 0, num_data_points=500)
    assert min(agreeing[f"udr_{i}"] for i in range(3)) > 0.8
    assert max(noisy[f"udr_{i}"] for i in range(3)) < 0.1
    assert 0.1 < mixed["pairwise_mean"] < agreeing["pairwise_mean"]
    swapped = dm.udr(data, [same[0], lambda x: 2 * np.asarray(x)[:, [1, 2, 0]], same[2]], 0,
                     num_data_points=500)
    assert swapped == pytest.approx(agreeing, abs=1e-9)
    with pytest.raises(ValueError, match="at least two"):
        dm.udr(data, [identity], 0)
    with pytest.raises(ValueError, match="correlation_matrix"):
        dm.udr(data, same, 0, correlation_matrix="pearson")


# -------------------------------------------------------------- sampled representation


def correlated_means(noise_scale):
    """The means are two copies of one factor (strongly correlated) and a third factor;
    each posterior has sd ``noise_scale``."""
    def posterior(x):
        x = np.asarray(x)
        mean = 0.1 * np.c_[x[:, 0], x[:, 0] + 0.05 * x[:, 1], x[:, 2]]
        return mean, np.full_like(mean, noise_scale)
    return posterior


def test_finding_1_sampled_codes_independent_while_the_means_are_correlated():
    posterior = correlated_means(1.0)
    settings = dict(num_train=5000, batch_size=1000)
    mean = dm.unsupervised_scores(FactorData(SIZES), lambda x: posterior(x)[0], 0, **settings)
    sampled = dm.unsupervised_scores_sampled(FactorData(SIZES), posterior, 0, **settings)
    assert mean["gaussian_total_correlation"] > 1.0
    assert sampled["gaussian_total_correlation"] < 0.02
    assert sampled["mutual_info_score"] < mean["mutual_info_score"]
    # the sampled codes' covariance is Cov(mean) + diag(scale^2): the TC of that Gaussian
    rs = np.random.RandomState(1)
    _, obs = draw(FactorData(SIZES), 20000, rs)
    cov = np.cov(posterior(obs)[0], rowvar=False) + np.eye(3)
    expected = 0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1])
    assert sampled["gaussian_total_correlation"] == pytest.approx(expected, abs=0.005)


def test_sampled_scores_with_zero_variance_are_the_mean_scores():
    posterior = correlated_means(0.0)
    settings = dict(num_train=500, batch_size=500)
    assert dm.unsupervised_scores_sampled(FactorData(SIZES), posterior, 3, **settings) == \
        dm.unsupervised_scores(FactorData(SIZES), lambda x: posterior(x)[0], 3, **settings)


def test_posterior_functions_are_checked():
    with pytest.raises(ValueError, match="Gaussian posterior"):
        dm.unsupervised_scores_sampled(FactorData(SIZES), identity, 0, num_train=50)
    with pytest.raises(ValueError, match="scale must be >= 0"):
        dm.unsupervised_scores_sampled(FactorData(SIZES), lambda x: (x, -np.ones_like(x)), 0,
                                       num_train=50)


def test_compute_all_passes_the_posterior_to_the_sampled_metrics():
    posterior = correlated_means(1.0)
    mean = lambda x: posterior(x)[0]  # noqa: E731
    scores = dm.compute_all(FactorData(SIZES), mean, 0, metrics=[
        "unsupervised_scores", "unsupervised_scores_sampled"], posterior_function=posterior,
        num_train=500)
    alone = dm.compute_all(FactorData(SIZES), mean, 0, metrics=["unsupervised_scores_sampled"],
                           posterior_function=posterior, num_train=500)
    assert alone.items() <= scores.items()  # a metric's seed does not depend on the others
    assert set(dm.compute_all(FactorData(SIZES), mean, 0, metrics=["mig"], num_train=50)) \
        == {"mig.mig"} | {f"mig.mig_per_factor_{k}" for k in range(3)}
    with pytest.raises(ValueError, match="posterior_function"):
        dm.compute_all(FactorData(SIZES), mean, 0, metrics=["unsupervised_scores_sampled"])
