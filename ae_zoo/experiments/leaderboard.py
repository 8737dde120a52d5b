"""The leaderboard ``ae-zoo benchmark`` writes, read back from the runs' ``benchmark.json``.

Into ``out``: ``leaderboard.md`` (the models ranked by FID, mean +- std over seeds, the
samples mosaic, the charts, every run, the settings), ``leaderboard.csv`` (one row per
run), ``leaderboard.json``, a bar chart per metric with the seeds as points
(``bar_<metric>.png``, all of them in ``bars.png``) and ``samples.png`` (a row of samples
per model, from its first seed's run).
"""

import csv
import io
import os

import numpy as np

from ae_zoo import viz
from ae_zoo._io import to_jsonable, write_json, write_text
from ae_zoo.experiments.common import figure_lines, read_json_lenient, summarize
from ae_zoo.experiments.figures import bar_chart, bar_charts

#: (key, label, better, digits): the leaderboard's metrics, in its column order.
METRICS = (
    ("reconstruction_mse", "rec. MSE", "lower", 4),
    ("nll", "-log p(x)", "lower", 1),
    ("fid", "FID", "lower", 1),
    ("kid", "KID", "lower", 2),
    ("precision", "precision", "higher", 3),
    ("recall", "recall", "higher", 3),
    ("reconstruction_fid", "rec. FID", "lower", 1),
    ("train_seconds", "train s", "lower", 0),
    ("parameters", "parameters", "lower", 0),
)
SOURCES = {"prior": "prior", "sampler": "sampler", "normal": "N(0, I)", None: "none"}  # how the tables name them
CSV_FIELDS = ("model", "seed", "sample_source", "steps", "epochs") + tuple(m[0] for m in METRICS) \
    + ("kid_std", "reconstruction_kid", "reconstruction_precision", "reconstruction_recall",
       "elbo", "eval_seconds")


def _source(board, model):
    """How the tables name ``model``'s sample source (another source by its own name)."""
    source = board["sources"].get(model)
    return SOURCES.get(source, source)


def collect(run_dirs):
    """The finished runs' rows (their ``benchmark.json``)."""
    rows = [read_json_lenient(os.path.join(d, "benchmark.json")) for d in run_dirs]
    return [r for r in rows if r]


def ranking(summary):
    """Models by mean FID (lower first); models without samples last, by rec. MSE."""
    def key(model):
        fid = summary[model]["fid"]["mean"]
        mse = summary[model]["reconstruction_mse"]["mean"]
        return (fid is None, fid if fid is not None else mse if mse is not None else np.inf)
    return sorted(summary, key=key)


def _cell(stats, digits):
    if stats["mean"] is None:
        return ""
    if digits == 0:
        text = f"{stats['mean']:,.0f}"
        return text if stats["std"] is None or stats["std"] == 0 else f"{text} +- {stats['std']:,.0f}"
    text = f"{stats['mean']:.{digits}f}"
    return text if stats["std"] is None else f"{text} +- {stats['std']:.{digits}f}"


def markdown(board):
    """The Markdown leaderboard."""
    s = board["settings"]
    network = s["feature_network"]
    heads = [label for _, label, _, _ in METRICS]
    lines = [f"# Leaderboard: {len(board['models'])} models x {len(s['seeds'])} seeds on "
             f"{s['dataset']}", "",
             f"Each run trains the model's `recipes/<model>_{s['dataset']}.yaml` (its defaults "
             f"where there is none) with budget `{s['budget']}`"
             + ("" if s["budget"] == "recipe" else " (instead of its length and early stopping)")
             + f", seeds "
             f"{', '.join(map(str, s['seeds']))}, then scores it on the test split: per-pixel "
             f"reconstruction MSE, -log p(x) (importance-weighted, {s['iwae_samples']} samples, "
             "nats per image) where the model has a likelihood, and FID, KID, precision and "
             f"recall (k = 3) of {s['num_samples']} samples (seed {s['sample_seed']}) against "
             f"the {board['num_real']} test images on the `{network['name']}` feature network "
             f"({board['feature_dim']} features of its `{network.get('feature_layer')}` layer"
             + (f", test accuracy {network['test_accuracy']:.1%}" if network.get("test_accuracy")
                else "") + "); rec. FID is the FID of the reconstructions of the test images.",
             "",
             "Samples: `prior` = the model's own `sample` (its prior); `sampler` = the sampler "
             "fitted to its training codes (`ae-zoo train` fits a model's default one); "
             "`N(0, I)` = N(0, I) draws decoded by a model that declares no prior (not generative: what a VAE's samples "
             "are compared with in the AE-versus-VAE story). Mean +- std over seeds; ranked by "
             "FID. Parameters count every weight of the model (auxiliary networks included).", "",
             "| rank | model | samples | " + " | ".join(heads) + " |",
             "|---|---|---|" + "---|" * len(heads)]
    for rank, model in enumerate(board["ranking"], 1):
        cells = [_cell(board["summary"][model][key], digits) for key, _, _, digits in METRICS]
        lines.append(f"| {rank} | {model} | {_source(board, model)} | "
                     + " | ".join(cells) + " |")
    lines += ["", "![a row of samples per model](samples.png)", "",
              "![every metric, seeds as points](bars.png)", ""]
    problems = {**{f"{m} (skipped)": why for m, why in s.get("skipped", {}).items()},
                **s.get("failures", {})}
    if problems:
        lines += ["## Not on the board", ""] + [f"- {k}: {v}" for k, v in problems.items()] + [""]
    lines += ["## Per run", "", "| model | seed | steps | " + " | ".join(heads) + " |",
              "|---|---|---|" + "---|" * len(heads)]
    for r in board["rows"]:
        cells = ["" if r.get(k) is None else f"{r[k]:,.{d}f}" for k, _, _, d in METRICS]
        lines.append(f"| {r['model']} | {r['seed']} | {r.get('steps')} | " + " | ".join(cells) + " |")
    lines += ["", "Every number of every run: `leaderboard.csv` and `leaderboard.json`; the "
                  "evaluation of each run: `<model>_seed<k>/benchmark.json`.", "",
              f"Command: `{s.get('command') or 'run_benchmark(...)'}`", ""]
    return "\n".join(lines)


def _csv(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in CSV_FIELDS})
    return buffer.getvalue()


def mosaic(board, run_dirs, path):
    """One row of samples per model (its first finished seed), in ranking order."""
    by_name = {os.path.basename(os.path.normpath(d)): d for d in run_dirs}
    rows, titles = [], []
    for model in board["ranking"]:
        files = [os.path.join(by_name.get(f"{model}_seed{seed}", ""), "mosaic_samples.npy")
                 for seed in board["settings"]["seeds"]]
        found = [f for f in files if os.path.isfile(f)]
        if found:
            rows.append(np.load(found[0]))
            titles.append(f"{model} ({_source(board, model)})")
    if not rows:
        return None
    viz.image_rows(rows, row_titles=titles,
                   title=f"Samples (seed {board['settings']['sample_seed']}), ranked by FID",
                   path=path)
    return os.path.basename(path)


def write(out, models, seeds, settings, run_dirs, figures=True, log=None):
    """Writes the leaderboard of the finished runs among ``run_dirs`` (with its charts and
    mosaic unless ``figures`` is False); returns it."""
    say = log or (lambda *_: None)
    rows = collect(run_dirs)
    order = {m: i for i, m in enumerate(models)}
    rows.sort(key=lambda r: (order.get(r["model"], len(order)), r["seed"]))
    present = [m for m in models if any(r["model"] == m for r in rows)]
    summary = summarize(rows, present, [key for key, _, _, _ in METRICS])
    sources = {r["model"]: r.get("sample_source") for r in rows}
    first = rows[0]["generation"] if rows else {}
    board = to_jsonable({
        "settings": {**settings, "models": models, "seeds": seeds},
        "models": present, "ranking": ranking(summary), "sources": sources,
        "summary": summary, "num_real": (first.get("real") or {}).get("num_examples"),
        "feature_dim": ((first.get("reconstructions") or {}).get("feature_dim")),
        "rows": [{k: v for k, v in r.items() if k != "generation"} for r in rows],
        "num_runs": len(rows), "num_planned": len(run_dirs),
    })
    drawn = {}
    if rows and figures:
        for key, label, better, _ in METRICS:
            if any(r.get(key) is not None for r in rows):
                file = f"bar_{key}.png"
                bar_chart(rows, board["ranking"], seeds, key, f"{label} ({better} is better)",
                          sources, path=os.path.join(out, file))
                drawn[key] = file
        bar_charts(rows, board["ranking"], seeds, [(k, f"{label} ({b} is better)")
                   for k, label, b, _ in METRICS if k in drawn], sources,
                   path=os.path.join(out, "bars.png"))
        drawn["overview"] = "bars.png"
        if mosaic(board, run_dirs, os.path.join(out, "samples.png")):
            drawn["samples"] = "samples.png"
    board["figures"] = drawn
    write_text(os.path.join(out, "leaderboard.csv"), _csv(rows))
    write_json(os.path.join(out, "leaderboard.json"), board)
    write_text(os.path.join(out, "leaderboard.md"), markdown(board))
    board["out"] = out
    say(f"Wrote {out}/leaderboard.md, leaderboard.csv, leaderboard.json and {len(drawn)} "
        f"figures ({len(rows)} of {len(run_dirs)} runs)")
    if figures:
        for line in figure_lines(out, drawn):
            say(line)
    return board
