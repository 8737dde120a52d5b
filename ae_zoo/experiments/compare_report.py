"""The words of ``ae-zoo compare``: the findings and ``report.md``, from compare.json."""


def describe(capabilities, sampler=None):
    """A model's declared capabilities (and its sampler) in a few words, for the report."""
    words = ["conditional"] if capabilities.get("conditional") else []
    words.append("generative" if capabilities.get("generative") else "no prior")
    if capabilities.get("latent_kind") == "discrete":
        words.append("discrete codes")
    if capabilities.get("posterior_type"):
        words.append(f"{capabilities['posterior_type']} posterior")
    if capabilities.get("prior_type"):
        words.append(f"{capabilities['prior_type'].replace('_', ' ')} prior")
    if sampler:
        words.append(f"{sampler} sampler")
    return ", ".join(words)


def _span(codes):
    return codes["value_range"][1] - codes["value_range"][0]


def summary_sentences(names, entries):
    """The report's findings, from the numbers."""
    narrow = min(names, key=lambda n: _span(entries[n]["codes"]))
    wide = max(names, key=lambda n: _span(entries[n]["codes"]))
    n, w = entries[narrow]["codes"], entries[wide]["codes"]
    lines = [
        f"{narrow}'s codes lie in [{n['value_range'][0]:.2f}, {n['value_range'][1]:.2f}] "
        f"(std {n['std']:.2f}, {n['within_3']:.1%} of values within +-3), {wide}'s in "
        f"[{w['value_range'][0]:.2f}, {w['value_range'][1]:.2f}] (std {w['std']:.2f}, "
        f"{w['within_3']:.0%} within +-3).",
    ]
    distance = {x: entries[x]["samples"]["nearest_test_mse"] for x in names}
    ranked = sorted(names, key=distance.get)
    best, worst = ranked[0], ranked[-1]
    lines.append(
        f"Decoded samples are closest to real test images for {best} (from "
        f"{entries[best]['samples']['source']}: mean per-pixel MSE to the nearest test image "
        f"{distance[best]:.4f}) and farthest for {worst} ({entries[worst]['samples']['source']}: "
        f"{distance[worst]:.4f}).")
    for x in names:
        normal = entries[x].get("normal_samples")
        if normal:
            lines.append(
                f"{x} without a prior of its own: N(0, I) draws decode {normal['nearest_test_mse']:.4f} "
                f"from the nearest test image, draws from {entries[x]['samples']['source']} "
                f"{distance[x]:.4f}.")
    return lines


def _fmt_range(r):
    return f"[{r[0]:.2f}, {r[1]:.2f}]"


def _setup_lines(result):
    lines = []
    for n in result["order"]:
        e = result["models"][n]
        net = ", ".join(f"{k} {v}" for k, v in e["network_options"].items()) or "default widths"
        trained = {"trained": "trained here", "reused": "reused run",
                   "loaded": "given run"}[e["obtained"]]
        kind = describe(e["capabilities"], e.get("sampler"))
        what = kind if e["model"] == n else f"`{e['model']}`, {kind}"
        steps = "" if e["steps"] is None else f" / {e['steps']} steps"
        fitted = "; its sampler fitted here" if e.get("sampler_fitted_here") else ""
        lines.append(f"- **{n}** ({what}): {e['architecture']} networks ({net}), latent_dim "
                     f"{e['latent_dim']}, {e['epochs']} epochs{steps}; {trained}: "
                     f"`{e['run_dir']}`{fitted}")
    return lines


def _table(result):
    lines = ["| model | code range | 1st-99th percentile | std (all values) | mean per-dim std | "
             "within +-3 | active units | test MSE | samples from | samples: MSE to nearest "
             "test image | N(0, I) draws: MSE to nearest |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in result["order"]:
        e, c = result["models"][n], result["models"][n]["codes"]
        normal = e.get("normal_samples")
        lines.append(f"| {n} | {_fmt_range(c['value_range'])} | {_fmt_range(c['percentile_range'])} | "
                     f"{c['std']:.3f} | {c['mean_dim_std']:.3f} | {c['within_3']:.1%} | "
                     f"{c['active_units']}/{e['latent_dim']} | {e['reconstruction_mse']:.4f} | "
                     f"{e['samples']['source']} | {e['samples']['nearest_test_mse']:.4f} | "
                     f"{'' if not normal else format(normal['nearest_test_mse'], '.4f')} |")
    return lines


def _side_by_side(names, figures, title, fig, text):
    present = [n for n in names if fig in figures.get(n, {})]
    if not present:
        return []
    return [f"## {title}", "", text, "", "| " + " | ".join(present) + " |",
            "|" + "---|" * len(present),
            "| " + " | ".join(f"![{fig} {n}]({figures[n][fig]})" for n in present) + " |", ""]


def _with_and_without(result, figures):
    pairs = [n for n in result["order"] if "normal_samples" in figures.get(n, {})
             and "samples" in figures.get(n, {})]
    if not pairs:
        return []
    lines = ["## Deterministic models with and without a sampler", "",
             "A model without a prior of its own decodes N(0, I) draws (left) where its codes "
             "may not be; its sampler (right: by default a Gaussian mixture fitted to its "
             "training codes, Ghosh et al. 2020) draws where they are.", ""]
    for n in pairs:
        lines += [f"**{n}**", "", "| N(0, I) | " + result["models"][n]["samples"]["source"] + " |",
                  "|---|---|",
                  f"| ![N(0, I) {n}]({figures[n]['normal_samples']}) | "
                  f"![samples {n}]({figures[n]['samples']}) |", ""]
    return lines


def report_markdown(result, figures):
    names, entries, data = result["order"], result["models"], result["dataset"]
    lines = [f"# {', '.join(names)} on {data['name']}", "", *_setup_lines(result)]
    if not result["same_architecture"]:
        lines += ["", "**Note:** the models do not share the same networks and latent size."]
    lines += ["", f"Codes are the encoder outputs (the posterior mean for a Gaussian posterior, "
                  f"the quantized vectors for discrete codes) of the {data['num_examples']} "
                  f"{data['split']} images.", "", "## Findings", ""]
    lines += [f"- {s}" for s in result["summary"]]
    lines += ["", "## Latent value ranges", "", *_table(result)]
    if "latent_ranges" in result["figures"]:
        lines += ["", "![latent ranges](latent_ranges.png)", "",
                  "Box: 25-75th percentile per dimension; whiskers 1st-99th; crosses min/max; "
                  "shaded: the prior's +-2 sd."]
    lines.append("")
    num = entries[names[0]]["samples"]["num"]
    lines += _side_by_side(
        names, figures, "Samples", "samples",
        f"{num} draws (seeds {result['seed']}...) decoded by each model, from what it samples "
        "with: its sampler if it has one (fitted to its training codes after training), else "
        "its prior; a model with neither decodes the draws z ~ N(0, I) a VAE would.")
    lines += _with_and_without(result, figures)
    lines += _side_by_side(names, figures, "Interpolations", "interpolations",
                           "Linear paths between the codes of pairs of test images.")
    lines += _side_by_side(names, figures, "Traversals", "traversals",
                           "One image's code with one dimension varied at a time (rows): a model "
                           "with the prior N(0, I) over +-3 prior standard deviations, others over "
                           "codes' 1st-99th percentiles.")
    lines += _side_by_side(names, figures, "Latent scatter", "latent_scatter",
                           "The codes of the test images (PCA when latent_dim > 2), coloured by "
                           "label.")
    lines += _side_by_side(names, figures, "2-D manifold", "manifold",
                           "Decoded grid over the two latent dimensions.")
    lines += _side_by_side(names, figures, "Reconstructions", "reconstructions",
                           "Test images (top) and their reconstructions.")
    lines += ["Numbers: `compare.json`.", ""]
    return "\n".join(lines)
