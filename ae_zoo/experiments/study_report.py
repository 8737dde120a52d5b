"""The study's report: one row per finished run (read back from its ``disentanglement.json``),
UDR across the seeds of each setup, the three findings (:mod:`study_analysis`) and the
files: ``results.csv``, ``results.md``, ``study.json``, a box plot per headline score
(``box_<metric>.png``; modularity's beside explicitness, as Ridgeway & Mozer report them;
all in ``boxplots.png``), ``finding1_correlation.png``,
``finding2_selection.png`` and ``finding3_downstream.png``."""

import csv
import io
import os

from ae_zoo._io import to_jsonable, write_json, write_text
from ae_zoo.evaluation import scoring
from ae_zoo.evaluation.disentanglement import udr
from ae_zoo.experiments import study_analysis as analysis
from ae_zoo.experiments import study_figures as figures
from ae_zoo.experiments.common import figure_lines, read_json_lenient, summarize
from ae_zoo.experiments.study_markdown import results_markdown
from ae_zoo.export.card import load_run

RESULTS_FILE = "disentanglement.json"
UDR_FILE = "udr.json"
#: UDR's settings in the study (disentanglement_lib's, encoding 250 images per call).
UDR_SETTINGS = {"num_data_points": 1000, "batch_size": 250}
LABELS = {**scoring.HEADLINE_LABELS, **scoring.COMPANION_LABELS, "udr": "UDR (Duan et al. 2020)"}
#: Box plots and variance shares: every headline score of the metrics run, and UDR.
_FIXED = ["model", "setup", "seed", "steps", "train_seconds", "ms_per_step", "eval_seconds",
          "udr", "run_dir"]


def collect_rows(runs):
    """One row per finished run, read back from its ``disentanglement.json``."""
    rows = []
    for entry in runs:
        run_dir = entry["recipe"]["out"]
        scores = read_json_lenient(os.path.join(run_dir, RESULTS_FILE))
        if not scores:
            continue
        steps, train = scores.get("steps"), scores.get("train_seconds")
        row = {"model": entry["model"], "setup": entry["setup"], "hparams": entry["hparams"],
               "strength": entry["strength"], "seed": entry["seed"], "name": entry["name"],
               "run_dir": run_dir, "steps": steps, "train_seconds": train,
               "ms_per_step": 1000.0 * train / steps if train and steps else None,
               "eval_seconds": scores.get("eval_seconds"), "udr": None}
        row.update(scores["scores"])
        rows.append(row)
    return rows


def add_udr(out, rows, ground_truth, seed, say):
    """Sets each row's ``udr``: its score among the finished runs of its setup (two or
    more), cached in ``out/udr.json`` while the runs and settings stay the same."""
    cache = read_json_lenient(os.path.join(out, UDR_FILE)) or {}
    settings = {**UDR_SETTINGS, "random_state": seed}
    changed = False
    for setup in dict.fromkeys(r["setup"] for r in rows):
        mine = [r for r in rows if r["setup"] == setup]
        if len(mine) < 2:
            continue
        names = [r["name"] for r in mine]
        entry = cache.get(setup)
        if not entry or entry.get("runs") != names or entry.get("settings") != settings:
            say(f"  UDR of {setup} over {len(mine)} seeds ...")
            functions = []
            for r in mine:
                model = load_run(r["run_dir"])[0]
                functions.append(scoring.representation_function(
                    model, UDR_SETTINGS["batch_size"], posterior=True)
                    or scoring.representation_function(model, UDR_SETTINGS["batch_size"]))
            scores = udr(ground_truth, functions, seed, **UDR_SETTINGS)
            entry = {"runs": names, "settings": settings,
                     "scores": {n: scores[f"udr_{i}"] for i, n in enumerate(names)}}
            cache[setup], changed = entry, True
        for r in mine:
            r["udr"] = entry["scores"][r["name"]]
    if changed:
        write_json(os.path.join(out, UDR_FILE), cache)


def _csv(rows, columns):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return buffer.getvalue()


def _findings(rows, models, headline):
    shares = {c: analysis.variance_shares([r.get(c) for r in rows], [r["model"] for r in rows],
                                          [r["setup"] for r in rows])
              for c in headline if any(r.get(c) is not None for r in rows)}
    trends = analysis.correlation_trends(rows, models)
    selection = analysis.model_selection(rows)
    downstream = analysis.downstream_correlations(rows)
    return {
        "variance_shares": shares,
        "conclusion": analysis.finding_2_variance(shares) if rows else "No finished runs.",
        "finding_1": {"trends": trends, "verdict": analysis.finding_1(trends)},
        "finding_2": {"selection": selection,
                      "verdict": analysis.finding_2_selection(selection)},
        "finding_3": {"correlations": downstream, "verdict": analysis.finding_3(downstream)},
    }


def _figures(out, rows, models, seeds, study):
    boxes, findings = {}, {}
    if not rows:
        return boxes, findings
    shares = study["variance_shares"]
    available = {k for r in rows for k, v in r.items() if v is not None}
    for c in study["headline_columns"]:
        file = f"box_{_slug(c)}.png"
        panels = scoring.plotted_scores([c], available)  # modularity: and explicitness
        if len(panels) == 1:
            figures.box_figure(rows, models, seeds, c, LABELS.get(c, c), shares.get(c),
                               path=os.path.join(out, file))
        else:
            figures.overview_figure(rows, models, seeds, panels, LABELS, shares,
                                    path=os.path.join(out, file))
        boxes[c] = file
    figures.overview_figure(rows, models, seeds,
                            scoring.plotted_scores(study["headline_columns"], available), LABELS,
                            shares, path=os.path.join(out, "boxplots.png"))
    boxes["overview"] = "boxplots.png"
    if study["finding_1"]["trends"]:
        figures.correlation_figure(rows, models, path=os.path.join(out, "finding1_correlation.png"))
        findings["finding_1"] = "finding1_correlation.png"
    selection = study["finding_2"]["selection"]
    figures.rank_heatmap([[e["rho"][s] for s in analysis.SUPERVISED] for e in selection.values()],
                         [e["label"] for e in selection.values()],
                         [LABELS.get(s, s) for s in analysis.SUPERVISED],
                         "Unsupervised vs supervised scores across runs",
                         path=os.path.join(out, "finding2_selection.png"))
    findings["finding_2"] = "finding2_selection.png"
    correlations = study["finding_3"]["correlations"]
    figures.rank_heatmap([[correlations[s][t] for t, _ in analysis.DOWNSTREAM]
                          for s in analysis.SUPERVISED],
                         [LABELS.get(s, s) for s in analysis.SUPERVISED],
                         [label for _, label in analysis.DOWNSTREAM],
                         "Disentanglement vs downstream performance across runs",
                         path=os.path.join(out, "finding3_downstream.png"))
    findings["finding_3"] = "finding3_downstream.png"
    return boxes, findings


def _slug(column):
    """File-name part of a headline column: beta_vae, factor_vae, mig, dci, sap, modularity, ..."""
    if "." not in column:
        return column
    metric, score = column.split(".", 1)
    if metric in ("beta_vae_score", "factor_vae_score"):
        return metric[:-len("_score")]
    if metric == "unsupervised_scores_sampled":
        return f"sampled_{score}"
    if metric in ("unsupervised_scores", "downstream_task") or score.startswith(metric):
        return score
    return metric


def write_results(out, runs, dataset, ground_truth, plan, metric_seed, command=None, log=None):
    """Writes results.csv, results.md, study.json and the figures from the runs' score
    files (``runs``: :func:`~ae_zoo.experiments.study.plan_study`); returns the study."""
    say = log or (lambda *_: None)
    names, _, effective, preset = plan
    models = list(dict.fromkeys(r["model"] for r in runs))
    seeds = list(dict.fromkeys(r["seed"] for r in runs))
    setups = {s: i for i, s in enumerate(dict.fromkeys(r["setup"] for r in runs))}
    rows = sorted(collect_rows(runs),
                  key=lambda r: (models.index(r["model"]), setups[r["setup"]], r["seed"]))
    add_udr(out, rows, ground_truth, metric_seed, say)
    score_columns = list(dict.fromkeys(k for r in rows for k in r if "." in k))
    headline = [scoring.HEADLINE_SCORES[n] for n in names
                if scoring.HEADLINE_SCORES[n] in score_columns]
    headline += ["udr"] if any(r["udr"] is not None for r in rows) else []
    write_text(os.path.join(out, "results.csv"), _csv(rows, _FIXED + score_columns))
    first = runs[0]["recipe"]
    study = to_jsonable({
        "settings": {"models": models, "seeds": seeds, "dataset": dataset,
                     "setups": list(setups),
                     "steps": first["training"]["steps"],
                     "steps_per_epoch": first["training"]["steps_per_epoch"],
                     "batch_size": first["training"]["batch_size"],
                     "data_options": first["data"]["options"], "metric_preset": preset,
                     "metric_seed": metric_seed, "udr": UDR_SETTINGS, "command": command},
        "metric_settings": effective,
        "headline_columns": headline,
        "rows": rows,
        "summary": summarize(rows, models, score_columns + ["udr"]),
        "setup_summary": summarize(rows, list(dict.fromkeys(r["setup"] for r in rows)),
                                   score_columns + ["udr"], key="setup"),
        **_findings(rows, models, headline),
        "num_runs": len(rows),
        "num_planned": len(runs),
        "total_train_seconds": float(sum(r["train_seconds"] or 0.0 for r in rows)),
        "total_eval_seconds": float(sum(r["eval_seconds"] or 0.0 for r in rows)),
    })
    study["figures"], study["finding_figures"] = _figures(out, rows, models, seeds, study)
    write_json(os.path.join(out, "study.json"), study)
    write_text(os.path.join(out, "results.md"), results_markdown(study, LABELS))
    study["out"] = out
    say(f"Wrote {out}/results.csv, results.md, study.json and "
        f"{len(study['figures']) + len(study['finding_figures'])} plots "
        f"({len(rows)} of {len(runs)} runs)")
    for line in (study["finding_1"]["verdict"], study["conclusion"],
                 study["finding_2"]["verdict"], study["finding_3"]["verdict"],
                 *figure_lines(out, {**study["figures"], **study["finding_figures"]}),
                 *_run_figure_line(rows)):
        say(line)
    return study


def _run_figure_line(rows):
    """The figures every run drew into its own folder (as ``ae-zoo train``), named once."""
    if not rows or not os.path.isdir(rows[0]["run_dir"]):
        return []
    files = sorted(f for f in os.listdir(rows[0]["run_dir"]) if f.endswith((".png", ".gif")))
    return [f"Each run's folder ({rows[0]['run_dir']}/, ...) holds its own figures: "
            f"{', '.join(files)}"] if files else []

