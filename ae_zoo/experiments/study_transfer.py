"""Hyperparameter transfer across datasets (Locatello et al. 2019, "how well do good
hyperparameters transfer across data sets"): the same setups (model and hyperparameters)
studied on several datasets, e.g. dSprites, Color- and Noisy-dSprites. Written by
``run_study`` with several datasets into ``out/transfer.md`` and ``out/transfer.json``."""

import os

import numpy as np

from ae_zoo._io import to_jsonable, write_json, write_text
from ae_zoo.experiments.study_analysis import SUPERVISED, spearman


def setup_medians(rows, column):
    """``{setup: median of column over the setup's runs}`` (setups with a value only)."""
    values = {}
    for r in rows:
        if r.get(column) is not None and np.isfinite(r[column]):
            values.setdefault(r["setup"], []).append(r[column])
    return {s: float(np.median(v)) for s, v in values.items()}


def hyperparameter_transfer(rows_by_dataset, scores=SUPERVISED):
    """For each score and ordered pair of datasets (A, B), over the setups both trained:
    ``rho``, the Spearman correlation of the setups' median scores on A and on B; ``pick``,
    the setup with the best median on A; ``percentile``, its rank among the setups on B
    (1: the best, 0.5: the median; ties count half).

    Returns ``{score: [{"from", "to", "num_setups", "rho", "pick", "percentile"}]}``."""
    out = {}
    for score in scores:
        medians = {d: setup_medians(rows, score) for d, rows in rows_by_dataset.items()}
        pairs = []
        for a in medians:
            for b in medians:
                if a == b:
                    continue
                common = [s for s in medians[a] if s in medians[b]]
                entry = {"from": a, "to": b, "num_setups": len(common), "rho": None,
                         "pick": None, "percentile": None}
                if len(common) >= 2:
                    on_a = [medians[a][s] for s in common]
                    on_b = np.array([medians[b][s] for s in common])
                    entry["rho"] = spearman(on_a, on_b)
                    pick = common[int(np.argmax(on_a))]
                    at = medians[b][pick]
                    below = np.sum(on_b < at) + 0.5 * (np.sum(on_b == at) - 1)
                    entry["pick"], entry["percentile"] = pick, float(below / (len(common) - 1))
                pairs.append(entry)
        out[score] = pairs
    return out


def finding_transfer(transfer):
    """A sentence on :func:`hyperparameter_transfer`."""
    pairs = [p for entries in transfer.values() for p in entries if p["percentile"] is not None]
    if not pairs:
        return "No verdict: the datasets share fewer than two setups with scores."
    rhos = [p["rho"] for p in pairs if p["rho"] is not None]
    above = sum(p["percentile"] > 0.5 for p in pairs)
    rho = f"median rank correlation {np.median(rhos):+.2f} across setups; " if rhos else ""
    return (f"Over {len(pairs)} (score, dataset pair) cases: {rho}the setup best on one "
            f"dataset is above the median setup on the other in {above} (half by chance). "
            "Locatello et al. find that good hyperparameters transfer across data sets only "
            "somewhat better than a random choice.")


def write_transfer(out, studies, labels):
    """Writes ``transfer.json`` and ``transfer.md`` for ``studies`` ({dataset: study
    dict of ``run_study``}) into ``out``; returns the transfer dict."""
    transfer = hyperparameter_transfer({d: s["rows"] for d, s in studies.items()})
    result = {"datasets": list(studies), "transfer": transfer,
              "verdict": finding_transfer(transfer)}
    write_json(os.path.join(out, "transfer.json"), to_jsonable(result))
    lines = [f"# Hyperparameter transfer across {', '.join(studies)}", "",
             f"**Verdict.** {result['verdict']}", "",
             "Per score and dataset pair (A -> B), over the setups both studies trained: the "
             "Spearman correlation of the setups' median scores on A and on B, the setup best "
             "on A, and its percentile among the setups on B (50%: the median). Each "
             "dataset's own report: `<dataset>/results.md`.", "",
             "| score | A -> B | setups | rho | best on A | its percentile on B |",
             "|---|---|---|---|---|---|"]
    for score, pairs in transfer.items():
        for p in pairs:
            rho = "n/a" if p["rho"] is None else f"{p['rho']:+.2f}"
            pct = "n/a" if p["percentile"] is None else f"{p['percentile']:.0%}"
            lines.append(f"| {labels.get(score, score)} | {p['from']} -> {p['to']} | "
                         f"{p['num_setups']} | {rho} | {p['pick'] or 'n/a'} | {pct} |")
    write_text(os.path.join(out, "transfer.md"), "\n".join(lines) + "\n")
    return result
