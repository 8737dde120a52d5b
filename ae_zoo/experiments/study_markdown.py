"""``results.md`` of the study: the three findings, each with its table, figure and verdict,
then the runs and the settings."""

from ae_zoo.experiments import study_analysis as analysis


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _rho(value):
    return "n/a" if value is None else f"{value:+.2f}"


def _table(head, rows):
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(map(str, r)) + " |" for r in rows]


def _intro(study):
    s = study["settings"]
    setups = len(s["setups"])
    return [f"# Disentanglement study: {len(s['models'])} models, {setups} setups x "
            f"{len(s['seeds'])} seeds on {s['dataset']}", "",
            f"Each run trains the `recipes/<model>_<dataset>.yaml` setup for {s['steps']} steps "
            f"(Locatello et al. train 300,000) with seeds {', '.join(map(str, s['seeds']))} "
            "and the hyperparameters listed per run (points of the paper's grids), then scores "
            f"the encoder mean (and the sampled codes) with every metric, {s['metric_preset']} "
            f"settings (metric random state {s['metric_seed']} for every run; settings below). "
            f"{study['num_runs']} of {study['num_planned']} runs are finished. At this budget "
            "the models are far from converged and there are a few seeds per setup, not 50: "
            "read each verdict as what this run shows, set against the paper's conclusion.", ""]


def _finding_1(study, labels):
    trends = study["finding_1"]["trends"]
    lines = ["## Finding 1: the sampled codes are not correlated, the mean codes are", "",
             f"**Verdict.** {study['finding_1']['verdict']}", ""]
    if trends:
        head = ["model"] + [f"{label} {kind}" for label in ("TC", "WC", "MI")
                            for kind in ("mean", "sampled")]
        lines += ["Spearman correlation with the regularization strength, across the model's "
                  "runs (TC: Gaussian total correlation, WC: normalized Gaussian Wasserstein "
                  "correlation, MI: mean pairwise mutual information):", ""]
        lines += _table(head, [[m] + [_rho(t[label][kind]) for label in ("TC", "WC", "MI")
                                      for kind in ("mean", "sampled")] for m, t in trends.items()])
        lines += [""]
    head = ["setup", "runs", "TC mean", "TC sampled", "WC mean", "WC sampled", "MI mean",
            "MI sampled"]
    cols = [f"unsupervised_scores{suffix}.{key}" for key, _ in analysis.CORRELATIONS
            for suffix in ("", "_sampled")]
    table = []
    for setup, summary in study["setup_summary"].items():
        runs = max(v["n"] for v in summary.values()) if summary else 0
        table.append([setup, runs] + [_fmt(summary[c]["mean"]) if c in summary else "n/a"
                                      for c in cols])
    lines += ["Per setup (mean over seeds):", ""] + _table(head, table) + [""]
    if "finding_1" in study["finding_figures"]:
        lines += [f"![Finding 1]({study['finding_figures']['finding_1']})", ""]
    return lines


def _finding_2(study, labels):
    cols = study["headline_columns"]
    lines = ["## Finding 2: seeds and hyperparameters matter more than the model; good runs "
             "cannot be picked without labels", "", f"**Verdict (variance).** {study['conclusion']}",
             "", f"**Verdict (selection).** {study['finding_2']['verdict']}", "",
             "### Per model (mean +- std over its runs)", ""]
    head = ["model", "runs"] + [labels.get(c, c) for c in cols]
    rows = []
    for m, summary in study["summary"].items():
        cells = ["n/a" if summary[c]["mean"] is None else
                 f"{summary[c]['mean']:.3f} +- {_fmt(summary[c]['std'])}" for c in cols]
        rows.append([m, summary[cols[0]]["n"] if cols else 0] + cells)
    lines += _table(head, rows) + ["", "### Model vs hyperparameters vs seed: share of each "
                                   "score's variance (nested ANOVA)", ""]
    rows = [[labels.get(c, c), _fmt(v["model_share"], 2), _fmt(v["hparam_share"], 2),
             _fmt(v["seed_share"], 2), _fmt(v["f"], 2), _fmt(v["p"], 3)]
            for c, v in study["variance_shares"].items()]
    lines += _table(["score", "model", "hyperparameters", "seed", "F (model)", "p"], rows)
    lines += ["", "SS_model = sum_m n_m (mean_m - mean)^2, SS_hparam = sum_s n_s (mean_s - "
              "mean_m(s))^2 over the setups s, SS_seed = the rest (between seeds of one setup). "
              "The variance verdict counts the supervised scores only.", "",
              "![all scores](boxplots.png)", "", "### Unsupervised model selection", ""]
    selection = study["finding_2"]["selection"]
    head = ["unsupervised score", "picks"] + [labels.get(s, s) for s in analysis.SUPERVISED]
    rows = []
    for entry in selection.values():
        pick = entry["pick"]
        rows.append([entry["label"], "n/a" if pick is None else
                     f"{pick['setup']} seed {pick['seed']}"]
                    + [f"{_rho(entry['rho'][s])} / "
                       + ("n/a" if s not in entry["percentile"] else
                          f"{entry['percentile'][s]:.0%}") for s in analysis.SUPERVISED])
    lines += ["Each cell: Spearman correlation across runs / the percentile of the picked run "
              "among all runs by that score (50%: the median). UDR compares the runs of one "
              "setup (lasso, disentanglement_lib's settings); larger is better, for the "
              "correlation measures smaller.", ""] + _table(head, rows)
    lines += ["", f"![Finding 2]({study['finding_figures'].get('finding_2', '')})", ""]
    return lines


def _finding_3(study, labels):
    lines = ["## Finding 3: no evidence that disentanglement helps downstream", "",
             f"**Verdict.** {study['finding_3']['verdict']}", ""]
    settings = study["metric_settings"].get("downstream_task")
    if settings:
        lines += [f"Downstream task: logistic regression (LR) and boosted trees (GBT) per "
                  f"factor, trained on {', '.join(map(str, settings['num_train']))} examples, "
                  f"tested on {settings['num_test']}; sample efficiency = accuracy at "
                  f"{settings['efficiency_sizes'][0]} / at {settings['efficiency_sizes'][1]} "
                  "(Locatello et al.: 100 / 10,000).", ""]
    correlations = study["finding_3"]["correlations"]
    head = ["score"] + [label for _, label in analysis.DOWNSTREAM]
    lines += _table(head, [[labels.get(s, s)] + [_rho(correlations[s][t])
                                                 for t, _ in analysis.DOWNSTREAM]
                           for s in analysis.SUPERVISED])
    head = ["setup"] + [label for _, label in analysis.DOWNSTREAM]
    rows = [[setup] + [_fmt(summary[t]["mean"]) if t in summary else "n/a"
                       for t, _ in analysis.DOWNSTREAM]
            for setup, summary in study["setup_summary"].items()]
    lines += ["", "Per setup (mean over seeds):", ""] + _table(head, rows)
    lines += ["", f"![Finding 3]({study['finding_figures'].get('finding_3', '')})", ""]
    return lines


def results_markdown(study, labels):
    """The report's Markdown."""
    cols = study["headline_columns"]
    lines = _intro(study) + _finding_1(study, labels) + _finding_2(study, labels)
    lines += _finding_3(study, labels)
    lines += ["## Per run", ""]
    head = ["setup", "seed", "steps", "train s", "ms/step", "metrics s"] + [
        labels.get(c, c) for c in cols]
    lines += _table(head, [[r["setup"], r["seed"], r["steps"], _fmt(r["train_seconds"], 0),
                            _fmt(r["ms_per_step"], 0), _fmt(r["eval_seconds"], 0)]
                           + [_fmt(r.get(c)) for c in cols] for r in study["rows"]])
    lines += ["", "Every score of every run: `results.csv`; everything: `study.json`.", "",
              "## Plots", ""]
    lines += [f"![{labels.get(c, c)}]({study['figures'][c]})" for c in cols
              if c in study["figures"]]
    lines += ["", "## Metric settings", ""]
    lines += _table(["metric", "settings"], [
        [metric, ", ".join(f"{k}={v}" for k, v in values.items())]
        for metric, values in study["metric_settings"].items()])
    lines += [f"| udr | {', '.join(f'{k}={v}' for k, v in study['settings']['udr'].items())} |",
              ""]
    return "\n".join(lines)
