"""The numbers behind the study's three findings (Locatello et al. 2019), from its runs.

A run is a dict with ``model``, ``setup`` (the model and its hyperparameters, e.g.
``"beta_vae beta=16"``), ``strength`` (a number that grows with the regularization, or
None), ``seed`` and its scores (``"<metric>.<key>"``, plus ``"udr"``).

1. Mean vs sampled representation: per model, the Spearman correlation of the
   regularization strength with the correlation measures of the sampled and of the mean
   codes; the paper finds the sampled ones fall and the mean ones rise.
2. Seeds and hyperparameters vs the model: the nested ANOVA of each score (model,
   hyperparameters within a model, seed within a setup); unsupervised model selection:
   the Spearman correlation of each unsupervised score with each supervised one across
   runs, and whether the run an unsupervised score picks beats the median run.
3. Downstream usefulness: the Spearman correlation of each disentanglement score with
   downstream accuracy and with sample efficiency across runs.
"""

import numpy as np
from scipy.stats import f as f_dist
from scipy.stats import spearmanr

from ae_zoo.evaluation import scoring

#: The supervised disentanglement scores (the headline score of each metric).
SUPERVISED = tuple(scoring.HEADLINE_SCORES[n] for n in (
    "beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "modularity_explicitness", "irs"))
#: Correlation measures of the codes: (key within unsupervised_scores[_sampled], label).
CORRELATIONS = (("gaussian_total_correlation", "TC"),
                ("gaussian_wasserstein_correlation_norm", "WC"),
                ("mutual_info_score", "MI"))
#: Unsupervised scores for model selection: (column, label, +1 if larger is better).
UNSUPERVISED = (("udr", "UDR", 1),) + tuple(
    (f"unsupervised_scores{kind}.{key}", f"{label} ({name})", -1)
    for kind, name in (("", "mean"), ("_sampled", "sampled")) for key, label in CORRELATIONS)
#: Downstream columns: (column, label).
DOWNSTREAM = (("downstream_task.lr_test_accuracy", "LR accuracy"),
              ("downstream_task.gbt_test_accuracy", "GBT accuracy"),
              ("downstream_task.lr_sample_efficiency", "LR sample efficiency"),
              ("downstream_task.gbt_sample_efficiency", "GBT sample efficiency"))


def spearman(a, b):
    """Spearman's rank correlation over the pairs where both are finite; None with fewer
    than 3 such pairs or a constant side."""
    a, b = (np.array([np.nan if v is None else v for v in x], dtype=np.float64) for x in (a, b))
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return None
    return float(spearmanr(a[keep], b[keep]).statistic)


def variance_shares(values, groups, setups=None):
    """ANOVA of ``values`` by ``groups`` (the model of each run), nested with ``setups``
    (the model and hyperparameters of each run) when given.

    SS_total = sum (y - mean)^2; SS_model = sum_m n_m (mean_m - mean)^2; SS_hparam =
    sum_s n_s (mean_s - mean_m(s))^2; SS_seed = SS_total - SS_model - SS_hparam (between
    the seeds of one setup). Returns the shares of SS_total (``model_share``,
    ``hparam_share``, ``seed_share``; None when SS_total is 0), the sums of squares, and F
    and p of the one-way ANOVA by model (None without replicates).
    """
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    setups = groups if setups is None else np.asarray(setups)
    keep = np.isfinite(values)
    values, groups, setups = values[keep], groups[keep], setups[keep]
    grand = values.mean() if len(values) else float("nan")
    ss_total = float(np.sum((values - grand) ** 2))
    labels = list(dict.fromkeys(groups.tolist()))
    means = {g: values[groups == g].mean() for g in labels}
    ss_model = float(sum(np.sum(groups == g) * (means[g] - grand) ** 2 for g in labels))
    ss_hparam = 0.0
    for s in dict.fromkeys(setups.tolist()):
        mine = setups == s
        ss_hparam += float(mine.sum() * (values[mine].mean() - means[groups[mine][0]]) ** 2)
    ss_seed = max(ss_total - ss_model - ss_hparam, 0.0)
    k, n = len(labels), len(values)
    out = {"ss_model": ss_model, "ss_hparam": ss_hparam, "ss_seed": ss_seed,
           "ss_total": ss_total, "model_share": None, "hparam_share": None,
           "seed_share": None, "f": None, "p": None, "num_models": k, "num_runs": n,
           "num_setups": len(set(setups.tolist()))}
    if ss_total > 0:
        out["model_share"] = ss_model / ss_total
        out["hparam_share"] = ss_hparam / ss_total
        out["seed_share"] = ss_seed / ss_total
    within = ss_total - ss_model
    if k > 1 and n > k and within > 0:
        f_value = (ss_model / (k - 1)) / (within / (n - k))
        out["f"] = float(f_value)
        out["p"] = float(f_dist.sf(f_value, k - 1, n - k))
    return out


def correlation_trends(rows, models):
    """Finding 1: per model with a regularization strength, the Spearman correlation of
    the strength with each correlation measure of the mean and of the sampled codes.

    Returns ``{model: {"<TC|WC|MI>": {"mean": rho, "sampled": rho}, "as_paper": bool or
    None}}``; ``as_paper``: the mean codes' TC rises and the sampled codes' TC falls."""
    trends = {}
    for model in models:
        mine = [r for r in rows if r["model"] == model and r.get("strength") is not None]
        if len({r["strength"] for r in mine}) < 2:
            continue
        strength = [r["strength"] for r in mine]
        entry = {}
        for key, label in CORRELATIONS:
            entry[label] = {kind: spearman(strength, [r.get(f"unsupervised_scores{suffix}.{key}")
                                                      for r in mine])
                            for kind, suffix in (("mean", ""), ("sampled", "_sampled"))}
        tc = entry["TC"]
        entry["as_paper"] = (None if tc["mean"] is None or tc["sampled"] is None
                             else bool(tc["mean"] > 0 > tc["sampled"]))
        trends[model] = entry
    return trends


def model_selection(rows, unsupervised=UNSUPERVISED, supervised=SUPERVISED):
    """Finding 2: per unsupervised score, its Spearman correlation with each supervised
    score across runs, and the run it picks (its best value) with that run's percentile
    among all runs by each supervised score (1: the best run, 0.5: the median).

    Returns ``{column: {"label", "rho": {supervised: rho}, "pick": (model, seed, setup) or
    None, "percentile": {supervised: p}, "beats_median": {supervised: bool}}}``."""
    out = {}
    for column, label, sign in unsupervised:
        have = [r for r in rows if r.get(column) is not None and np.isfinite(r[column])]
        entry = {"label": label, "rho": {}, "pick": None, "percentile": {}, "beats_median": {}}
        for target in supervised:
            entry["rho"][target] = spearman([r.get(column) for r in rows],
                                            [r.get(target) for r in rows])
        if have:
            pick = max(have, key=lambda r: sign * r[column])
            entry["pick"] = {"model": pick["model"], "setup": pick["setup"], "seed": pick["seed"]}
            for target in supervised:
                values = np.array([r[target] for r in rows if r.get(target) is not None])
                if pick.get(target) is None or len(values) < 2:
                    continue
                below = np.sum(values < pick[target]) + 0.5 * (np.sum(values == pick[target]) - 1)
                entry["percentile"][target] = float(below / (len(values) - 1))
                entry["beats_median"][target] = bool(pick[target] > np.median(values))
        out[column] = entry
    return out


def downstream_correlations(rows, scores=SUPERVISED, targets=DOWNSTREAM):
    """Finding 3: ``{score: {target: rho}}``, the Spearman correlation across runs of each
    disentanglement score with each downstream column."""
    return {s: {t: spearman([r.get(s) for r in rows], [r.get(t) for r in rows])
                for t, _ in targets} for s in scores}


def _label(column):
    return scoring.HEADLINE_LABELS.get(column, column)


def _median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def finding_1(trends):
    """A sentence on Finding 1 from :func:`correlation_trends`."""
    judged = {m: t for m, t in trends.items() if t["as_paper"] is not None}
    if not judged:
        return ("No verdict: no model was trained at two or more regularization strengths "
                "(use --hparam-points 2 or more).")
    agree = [m for m, t in judged.items() if t["as_paper"]]
    mean_up = [m for m, t in judged.items() if t["TC"]["mean"] > 0]
    sampled_down = [m for m, t in judged.items() if t["TC"]["sampled"] < 0]
    return (f"As the regularization grows, the Gaussian total correlation of the mean codes "
            f"rises while that of the sampled codes falls in {len(agree)} of {len(judged)} "
            f"models ({', '.join(agree) or 'none'}); the mean codes' rises in "
            f"{len(mean_up)}, the sampled codes' falls in {len(sampled_down)}. Locatello et "
            "al. find both, for every model: the aggregated posterior is factorized, its "
            "mean is not.")


def finding_2_variance(shares):
    """A sentence on the variance shares of the supervised scores (the unsupervised,
    sampled and downstream columns are left out: not disentanglement scores)."""
    judged = {m: s for m, s in shares.items() if s["model_share"] is not None and m in SUPERVISED}
    if not judged:
        return "No verdict: the scores do not vary (or there is a single run)."
    model = float(np.mean([s["model_share"] for s in judged.values()]))
    hparam = float(np.mean([s["hparam_share"] for s in judged.values()]))
    seed = float(np.mean([s["seed_share"] for s in judged.values()]))
    rest_wins = [m for m, s in judged.items() if s["hparam_share"] + s["seed_share"] >
                 s["model_share"]]
    seed_wins = [m for m, s in judged.items() if s["seed_share"] > s["model_share"]]
    if len(rest_wins) * 2 > len(judged):
        verdict = "seeds and hyperparameters matter more than the model"
    elif len(rest_wins) * 2 == len(judged):
        verdict = "seeds and hyperparameters matter as much as the model"
    else:
        verdict = "the model matters more than seeds and hyperparameters"
    hp = f", the hyperparameters within a model {hparam:.0%}" if hparam > 0 else ""
    return (f"Over {len(judged)} disentanglement metrics the model explains {model:.0%} of "
            f"the variance on average{hp} and the seed (runs of one setup) {seed:.0%}; seeds "
            f"and hyperparameters together explain more than the model on {len(rest_wins)} "
            f"({', '.join(map(_label, rest_wins)) or 'none'}), the seed alone on "
            f"{len(seed_wins)}. At this budget, {verdict} (Locatello et al.: seeds and "
            "hyperparameters matter more); with few seeds the shares are rough (see F and p).")


def finding_2_selection(selection):
    """A sentence on unsupervised model selection from :func:`model_selection`."""
    picks = [(c, e) for c, e in selection.items() if e["beats_median"]]
    if not picks:
        return "No verdict: no run has both unsupervised and supervised scores."
    wins = sum(sum(e["beats_median"].values()) for _, e in picks)
    total = sum(len(e["beats_median"]) for _, e in picks)
    parts = []
    for column, entry in picks:
        rho = _median(entry["rho"].values())
        parts.append(f"{entry['label']} {sum(entry['beats_median'].values())}/"
                     f"{len(entry['beats_median'])}"
                     + ("" if rho is None else f" (median rho {rho:+.2f})"))
    return (f"The run each unsupervised score picks beats the median run on {wins} of {total} "
            f"(score, metric) pairs (half by chance): {'; '.join(parts)}. Locatello et al. "
            "find that good runs cannot be told apart without the ground truth; Duan et al. "
            "report that UDR can.")


def finding_3(correlations):
    """A sentence on Finding 3 from :func:`downstream_correlations`."""
    accuracy = [rho for s in correlations.values() for t, rho in s.items()
                if t.endswith("_test_accuracy") and rho is not None]
    efficiency = [rho for s in correlations.values() for t, rho in s.items()
                  if t.endswith("_sample_efficiency") and rho is not None]
    if not accuracy and not efficiency:
        return "No verdict: too few runs with downstream scores."
    text = "Across runs, the disentanglement scores' rank correlation"
    if accuracy:
        text += (f" with downstream accuracy has median {np.median(accuracy):+.2f} (positive in "
                 f"{sum(r > 0 for r in accuracy)} of {len(accuracy)})")
    if efficiency:
        text += (f"{',' if accuracy else ''} with sample efficiency median "
                 f"{np.median(efficiency):+.2f} (positive in {sum(r > 0 for r in efficiency)} "
                 f"of {len(efficiency)})")
    return (text + ". Locatello et al. find no consistent link between disentanglement and "
            "sample efficiency; accuracy correlates with some scores, mostly through "
            "informativeness.")
