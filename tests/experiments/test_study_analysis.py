"""The study's analysis on hand-made runs: nested variance shares, the correlation trends
of Finding 1, unsupervised model selection, the downstream correlations, the
hyperparameter transfer between datasets, and the hyperparameter grids the models
declare."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from ae_zoo.evaluation import scoring
from ae_zoo.experiments import hyperparameter_grid
from ae_zoo.experiments import study_analysis as analysis
from ae_zoo.experiments import study_figures
from ae_zoo.experiments.study_report import LABELS
from ae_zoo.experiments import study_transfer as transfer


def test_nested_variance_shares_against_numpy():
    rng = np.random.RandomState(0)
    models = np.repeat(["a", "b"], 6)
    setups = np.repeat(["a1", "a2", "b1", "b2"], 3)
    y = rng.randn(12) + np.repeat([0.0, 1.0, 3.0, 3.5], 3)
    shares = analysis.variance_shares(y, models, setups)
    total = np.sum((y - y.mean()) ** 2)
    model_means = {m: y[models == m].mean() for m in "ab"}
    between_models = sum(6 * (model_means[m] - y.mean()) ** 2 for m in "ab")
    between_setups = sum(3 * (y[setups == s].mean() - model_means[s[0]]) ** 2
                         for s in ("a1", "a2", "b1", "b2"))
    within = sum(np.sum((y[setups == s] - y[setups == s].mean()) ** 2)
                 for s in ("a1", "a2", "b1", "b2"))
    assert shares["model_share"] == pytest.approx(between_models / total)
    assert shares["hparam_share"] == pytest.approx(between_setups / total)
    assert shares["seed_share"] == pytest.approx(within / total)
    flat = analysis.variance_shares(y, models)  # no setups: the seed is all within a model
    assert flat["hparam_share"] == 0.0
    assert flat["seed_share"] == pytest.approx((between_setups + within) / total)


def _run(model, strength, seed, **scores):
    return {"model": model, "setup": f"{model} h={strength}", "strength": strength,
            "seed": seed, "hparams": {} if strength is None else {"h": abs(strength)}, **scores}


def test_correlation_trends_and_the_finding_1_verdict():
    rows = []
    for model, sign in (("paper_like", 1), ("opposite", -1)):
        for strength in (1.0, 4.0, 16.0):
            for seed in (0, 1):
                tc = np.log(strength) + 0.01 * seed
                rows.append(_run(model, strength, seed, **{
                    "unsupervised_scores.gaussian_total_correlation": sign * tc,
                    "unsupervised_scores_sampled.gaussian_total_correlation": -sign * tc}))
    rows.append(_run("no_axis", None, 0))
    trends = analysis.correlation_trends(rows, ["paper_like", "opposite", "no_axis"])
    assert set(trends) == {"paper_like", "opposite"}
    assert trends["paper_like"]["TC"]["mean"] == pytest.approx(spearmanr(
        [r["strength"] for r in rows[:6]], [r["unsupervised_scores.gaussian_total_correlation"]
                                            for r in rows[:6]]).statistic)
    assert trends["paper_like"]["as_paper"] and not trends["opposite"]["as_paper"]
    assert trends["paper_like"]["WC"]["mean"] is None  # not measured
    assert "in 1 of 2 models (paper_like)" in analysis.finding_1(trends)
    assert analysis.finding_1({}).startswith("No verdict")


def test_model_selection_picks_the_best_unsupervised_score():
    supervised = ("mig.mig",)
    rows = [_run("m", 1.0, s, **{"udr": u, "mig.mig": g})
            for s, (u, g) in enumerate([(0.1, 0.5), (0.9, 0.2), (0.5, 0.3), (0.3, 0.4)])]
    result = analysis.model_selection(rows, (("udr", "UDR", 1),), supervised)["udr"]
    assert result["pick"] == {"model": "m", "setup": "m h=1.0", "seed": 1}
    assert result["percentile"]["mig.mig"] == 0.0  # the worst run by MIG
    assert result["beats_median"]["mig.mig"] is False
    assert result["rho"]["mig.mig"] == pytest.approx(-1.0)
    text = analysis.finding_2_selection({"udr": result})
    assert "beats the median run on 0 of 1" in text


def test_downstream_correlations_and_spearman_edge_cases():
    rows = [_run("m", 1.0, s, **{"mig.mig": s, "downstream_task.lr_test_accuracy": 2 * s,
                                  "downstream_task.lr_sample_efficiency": -s})
            for s in range(4)]
    result = analysis.downstream_correlations(rows, ("mig.mig",))
    assert result["mig.mig"]["downstream_task.lr_test_accuracy"] == pytest.approx(1.0)
    assert result["mig.mig"]["downstream_task.lr_sample_efficiency"] == pytest.approx(-1.0)
    assert result["mig.mig"]["downstream_task.gbt_test_accuracy"] is None
    assert "positive in 1 of 1" in analysis.finding_3(result)
    assert analysis.spearman([1, 2], [1, 2]) is None  # fewer than 3 points
    assert analysis.spearman([1, 1, 1], [1, 2, 3]) is None  # constant
    assert analysis.spearman([1, None, 3, 4], [1, 5, 3, 4]) == pytest.approx(1.0)


def test_hyperparameter_grids_are_the_models_declared_grids():
    assert hyperparameter_grid("beta_vae", points=None) == [({}, None)]
    assert hyperparameter_grid("beta_vae", points=2) == [({"beta": 1.0}, 1.0),
                                                         ({"beta": 16.0}, 16.0)]
    every = hyperparameter_grid("factor_vae", points="all")
    assert [h["gamma"] for h, _ in every] == [10, 20, 30, 40, 50, 100]
    # a larger capacity regularizes less: the strength grows as c_max shrinks
    (small, s_small), (large, s_large) = hyperparameter_grid("annealed_vae", points=2)
    assert (small["c_max"], large["c_max"]) == (5.0, 100.0) and s_small > s_large
    assert [h["lambda_od"] for h, _ in hyperparameter_grid("dip_vae_i", points=3)] == [1, 5, 50]
    assert hyperparameter_grid("vae", points=2) == [({}, None)]  # no grid: one setup


def test_hyperparameter_transfer_against_scipy(tmp_path):
    """Medians over seeds per setup, their Spearman correlation between two datasets, and
    the percentile on B of the setup best on A."""
    rng = np.random.RandomState(3)
    setups = ["a", "b", "c", "d", "e"]
    rows = {d: [{"setup": s, "seed": k, "mig.mig": float(rng.rand())}
                for s in setups for k in range(3)] for d in ("dsprites", "noisy_dsprites")}
    rows["noisy_dsprites"] = [r for r in rows["noisy_dsprites"] if r["setup"] != "e"]
    result = transfer.hyperparameter_transfer(rows, scores=("mig.mig",))["mig.mig"]
    assert [(p["from"], p["to"], p["num_setups"]) for p in result] == [
        ("dsprites", "noisy_dsprites", 4), ("noisy_dsprites", "dsprites", 4)]
    median = {d: {s: np.median([r["mig.mig"] for r in rows[d] if r["setup"] == s])
                  for s in setups[:4]} for d in rows}
    a, b = ([median[d][s] for s in setups[:4]] for d in ("dsprites", "noisy_dsprites"))
    assert result[0]["rho"] == pytest.approx(spearmanr(a, b).statistic)
    best = setups[int(np.argmax(a))]
    assert result[0]["pick"] == best
    rank = sorted(b).index(median["noisy_dsprites"][best])  # no ties
    assert result[0]["percentile"] == pytest.approx(rank / 3)
    written = transfer.write_transfer(tmp_path, {d: {"rows": r} for d, r in rows.items()},
                                      {"mig.mig": "MIG"})
    assert "dsprites -> noisy_dsprites | 4 |" in (tmp_path / "transfer.md").read_text()
    assert written["verdict"].startswith("Over 2 (score, dataset pair) cases")
    lone = transfer.hyperparameter_transfer(
        {"x": rows["dsprites"][:3], "y": rows["dsprites"][3:6]}, scores=("mig.mig",))
    assert lone["mig.mig"][0]["rho"] is None  # no setup in common
    assert transfer.finding_transfer(lone).startswith("No verdict")


def test_box_plots_label_every_panel_and_show_explicitness_beside_modularity():
    modularity = "modularity_explicitness.modularity"
    explicitness = "modularity_explicitness.explicitness_test"
    rows = [_run(m, None, seed, **{"mig.mig": 0.1 * seed, modularity: 0.5 + 0.1 * seed,
                                   explicitness: 0.6 + 0.05 * seed})
            for m in ("a", "b") for seed in (0, 1)]
    columns = scoring.plotted_scores(["mig.mig", modularity], {k for r in rows for k in r})
    assert columns == ["mig.mig", modularity, explicitness]
    fig = study_figures.overview_figure(rows, ["a", "b"], [0, 1], columns, LABELS, {})
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_ylabel() for ax in panels] == ["MIG", "Modularity", "Explicitness (test AUC)"]
    points = [np.concatenate([c.get_offsets()[:, 1] for c in ax.collections]) for ax in panels]
    for ax_points, column in zip(points, columns):  # every run drawn on its own score's panel
        assert sorted(ax_points) == pytest.approx(sorted(r[column] for r in rows))
