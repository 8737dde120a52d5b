"""Evaluate a trained model into ``evaluation.json`` and figures (``ae-zoo evaluate``).

``evaluate_run(path)`` takes a run directory of ``ae-zoo train`` (or a ``.keras`` file)
or an exported SavedModel (a model folder, one version directory, or a zoo name) and
writes ``evaluation.json`` (atomically) and PNG figures into ``out`` (default
``RUN_DIR/evaluation/``; for a SavedModel ``runs/<name>_evaluation/``, never inside the
zoo). The dataset defaults to the run's recipe (``run.json``) or the SavedModel's card.

A Keras model and an exported one are seen through one interface (the same methods and
declared capabilities); what is measured is what the model can give:

* ``reconstruction``: per-pixel MSE of the mean reconstruction against x, and, for a
  model that tracks loss terms (a Keras model; a SavedModel's signatures give mean
  images, codes and posterior parameters, not its training loss), its reconstruction
  term (``losses``: every tracked term, as in ``metrics.json``);
* ``likelihood`` (a model with ``has_likelihood``): the ELBO (one z ~ q(z|x) per example,
  nats per example), the KL term, and the importance-weighted -log p(x) (Burda et al.
  2016; ``iwae_samples`` draws on up to 1,000 examples);
* ``latent``: :func:`~ae_zoo.evaluation.latent_stats` of the codes (posterior means; KL
  per dimension for a Gaussian posterior);
* ``disentanglement``: when the dataset has ground-truth factors (dsprites,
  color_dsprites, noisy_dsprites, shapes3d), :func:`~ae_zoo.evaluation.compute_all` with
  the representation function = the encoder's mean (and its posterior for the sampled
  codes' scores), run in batches;
* ``generation``: FID, KID, precision and recall (:mod:`ae_zoo.evaluation.generation`) on
  the features of a feature network (the dataset's shipped one, or ``feature_network``)
  of as many samples as the split has examples (``model.sample``, seeded; N(0, I) draws
  decoded for a model without a prior) and of each given sampler's, against the split,
  and the same of the reconstructions (reconstruction FID); it records the feature
  network, the number of samples and the seed. ``sampler_names`` (``--sampler``) fits
  samplers of :mod:`ae_zoo.samplers` to the training codes and scores them too.

A SavedModel's card's training-time test metrics are copied into ``card_metrics``;
``unavailable`` lists what was skipped and why. Figures: see
:mod:`ae_zoo.experiments.figures`; with disentanglement scores also
``disentanglement.png``, a bar per metric.

Example:
    >>> result = evaluate_run("runs/vae_dsprites", metrics=["mig", "dci"])
    >>> result["disentanglement"]["scores"]["mig.mig"], result["likelihood"]["iwae_nll"]
"""

import dataclasses
import os
import time

import keras
import numpy as np

from ae_zoo import samplers as samplers_lib
from ae_zoo._io import to_jsonable, write_json
from ae_zoo.evaluation import feature_networks
from ae_zoo.evaluation import latent as _latent
from ae_zoo.evaluation import scoring
from ae_zoo.evaluation.measures import evaluate_generation, evaluate_model, latent_summary
from ae_zoo.experiments.common import check_dataset, load_evaluand, load_split
from ae_zoo.experiments.figures import disentanglement_figure, make_figures

_IWAE_EXAMPLES = 1000
#: Why an exported model has no loss terms or likelihood in its evaluation.
_SIGNATURES_ONLY = ("a SavedModel's signatures give mean images, codes and posterior parameters, "
                    "not the decoder's likelihood (logits, learned scale) or the training loss")


def default_out(info):
    if info["run_dir"]:
        return os.path.join(info["run_dir"], "evaluation")
    return os.path.join("runs", f"{info['name']}_evaluation")


def _check_arguments(iwae_samples, num_examples):
    if iwae_samples is not None and (isinstance(iwae_samples, bool) or int(iwae_samples) < 0):
        raise ValueError(f"iwae_samples must be an integer >= 0, got {iwae_samples!r}")
    if num_examples is not None and int(num_examples) < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples!r}")


def _dataset(model, info, dataset, split, num_examples, data_options):
    """``(data, options)``: the split to evaluate on, checked against the model."""
    name = dataset or info["dataset"]
    if not name:
        raise ValueError(f"{info['path']} records no dataset (no run.json recipe or card): "
                         "pass --dataset")
    options = dict(info["data_options"]) if name == info["dataset"] else {}
    options.update(data_options or {})
    data = load_split(name, split, info["data_dir"] if name == info["dataset"] else None, **options)
    if num_examples is not None and int(num_examples) < len(data):
        n = int(num_examples)
        data = dataclasses.replace(data, images=data.images[:n], y=None if data.y is None else data.y[:n],
                                   factors=None if data.factors is None else data.factors[:n])
    check_dataset(model, data)
    return data, options


def _losses_and_likelihood(model, data, labels, iwae, batch_size, unavailable):
    """``(reconstruction, losses, likelihood)`` sections of the evaluation."""
    if not model.loss_terms:  # an exported model: what its reconstruct signature gives
        recon = model.reconstruct(data.x, labels=labels, batch_size=batch_size)
        mse = float(np.mean((np.asarray(recon, np.float64) - data.x) ** 2))
        unavailable["losses"] = _SIGNATURES_ONLY
        if model.capabilities().get("generative"):
            unavailable["elbo"] = unavailable["iwae_nll"] = _SIGNATURES_ONLY
        return {"mse": mse, "loss": None, "loss_definition": None}, None, None
    model.compile(jit_compile=False)
    measured = evaluate_model(model, data, batch_size=batch_size,
                              iwae_samples=int(iwae) if model.has_likelihood else 0,
                              iwae_examples=min(len(data), _IWAE_EXAMPLES))
    losses = {k[len("test_"):]: v for k, v in measured.items()
              if k.startswith("test_") and k not in ("test_reconstruction_mse", "test_iwae_nll")}
    reconstruction = {"mse": measured["test_reconstruction_mse"],
                      "loss": losses.get("reconstruction_loss"),
                      "loss_definition": model.reconstruction_definition}
    likelihood = None
    if model.has_likelihood:
        likelihood = {"elbo": losses.get("elbo"), "kl": losses.get("kl"),
                      "reconstruction_loss": losses.get("reconstruction_loss"),
                      "iwae_nll": measured.get("test_iwae_nll"),
                      "iwae_samples": measured.get("iwae_samples", 0),
                      "iwae_examples": measured.get("iwae_examples", 0)}
        if not iwae:
            unavailable["iwae_nll"] = "iwae_samples is 0"
    return reconstruction, losses, likelihood


def _disentanglement(model, data, names, settings, seed, fast_metrics, unavailable, say):
    if not names:
        unavailable["disentanglement"] = "no metrics requested"
    elif data.ground_truth is None:
        unavailable["disentanglement"] = f"dataset {data.name!r} has no ground-truth factors"
    elif model.conditional:
        unavailable["disentanglement"] = "a conditional model encodes under labels"
    else:
        say(f"  disentanglement metrics ({', '.join(names)}) ...")
        result = scoring.compute_disentanglement(model, data.ground_truth, names, settings,
                                                 random_state=int(seed), log=say)
        result["preset"] = "fast" if fast_metrics else "full"
        unavailable.update({f"disentanglement.{k}": v for k, v in result["skipped"].items()})
        return result
    return None


def _check_sampler_names(names):
    """The ``--sampler`` names as a list; an unknown name lists the available ones."""
    names = [names] if isinstance(names, str) else list(names or ())
    for name in names:
        samplers_lib.get(name)
    if len(set(names)) < len(names):
        raise ValueError(f"samplers: {names} has duplicates")
    return names


def _check_samplers_fit(model, info, names):
    """Raises, before any work, when a named sampler cannot be fitted to ``model``."""
    if not names:
        return
    if info["kind"] == "saved_model":
        raise ValueError(f"--sampler fits a sampler to the Keras model's codes, and "
                         f"{info['path']} is a SavedModel: pass its Keras model "
                         f"({os.path.join(info['version_dir'], 'model.keras')}) or its run")
    if model.conditional:
        raise ValueError(f"the model is conditional, and samplers model unconditional codes: "
                         f"--sampler {names[0]} cannot draw for it")
    for name in names:
        samplers_lib.create(name).check_model(model)  # e.g. pixelcnn for continuous codes


def fit_samplers(names, info, data, options, seed, say):
    """``({name: sampler}, {name: how it was fitted})``: each sampler of ``names`` fitted
    (seed ``seed``) to the codes of the evaluated dataset's training split, each by a fresh
    copy of the model (fitting attaches a sampler to its model, and the model's own samples
    stay its own)."""
    fitted, record = {}, {}
    if not names:
        return fitted, record
    own = data.name == info["dataset"]
    train = load_split(data.name, info["train_split"] if own else "train",
                       info["data_dir"] if own else None, **options)
    for name in names:
        say(f"  fitting the {name} sampler to the codes of {train.name}/{train.split} ...")
        start = time.time()
        copy, _ = load_evaluand(info["path"])
        fitted[name] = samplers_lib.create(name).fit(copy, train.x, seed=int(seed))
        record[name] = {"class": type(fitted[name]).__name__, "dataset": train.name,
                        "split": train.split, "num_codes": len(train), "seed": int(seed),
                        "seconds": time.time() - start}
    return fitted, record


def _generation(model, data, options, seed, unavailable, say):
    """The ``generation`` section (None when skipped: the reason is in ``unavailable``)."""
    if options["num_samples"] == 0:
        unavailable["generation"] = "generation_samples is 0"
        return None
    if options["feature_network"] is None:
        try:
            feature_networks.for_dataset(data.name)
        except ValueError as err:
            unavailable["generation"] = str(err)
            return None
    fitted, record = options["fit_samplers"]()
    say("  generation metrics (FID, KID, precision/recall) ...")
    result = evaluate_generation(model, data, options["feature_network"], options["num_samples"],
                                 seed, {**(options["samplers"] or {}), **fitted})
    for name, fit in record.items():
        result["samples"][name]["fitted"] = fit
    if "default" not in result["samples"]:
        unavailable["samples"] = ("the model neither declares a prior (generative) nor has "
                                  "continuous codes to decode N(0, I) draws from")
    return result


def _summary_line(reconstruction, likelihood, stats):
    line = f"  reconstruction MSE {reconstruction['mse']:.5f}"
    for key, label in (("elbo", "ELBO"), ("iwae_nll", "-log p(x)")):
        if likelihood and likelihood[key] is not None:
            line += f", {label} {likelihood[key]:.3f}"
    return (line + f"\n  codes in [{stats['value_range'][0]:.3g}, {stats['value_range'][1]:.3g}], "
            f"{stats['active_units']}/{stats['latent_dim']} active units")


def evaluate_run(path, dataset=None, split="test", out=None, metrics=None, iwae_samples=None,
                 seed=0, metric_settings=None, fast_metrics=False, num_examples=None,
                 figures=True, data_options=None, batch_size=256, feature_network=None,
                 generation_samples=None, samplers=None, sampler_names=None, log=None):
    """Evaluates a run directory, a ``.keras`` file or a SavedModel; writes
    ``out/evaluation.json`` and the figures, and returns the evaluation as a dict.

    Args:
        path: run directory (``model.keras`` + ``run.json``), ``.keras`` file, SavedModel
            folder or version directory, or zoo name.
        dataset: dataset name (default: the run's recipe or the card's).
        split: split to evaluate on.
        out: output folder (default ``RUN_DIR/evaluation``, or ``runs/<name>_evaluation``).
        metrics: disentanglement metrics (see :func:`~ae_zoo.evaluation.resolve_metrics`);
            None: all of them when the dataset has ground-truth factors; naming some for a
            dataset without factors is an error.
        iwae_samples: importance samples of -log p(x) (a model with a likelihood); default
            the run's recipe (``training.iwae_samples``) or 50; 0 skips it.
        seed: seeds the metrics' random state, the prior draws and the Keras RNG.
        metric_settings: ``compute_all`` overrides, e.g. ``{"num_train": 2000}``, merged
            over the defaults (Locatello et al.'s, or the fast preset with ``fast_metrics``).
        num_examples: evaluate on the first N examples of the split (default all).
        figures: write the PNGs (False: numbers only).
        data_options: extra ``ae_zoo.data.load`` options (e.g. ``{"num_samples": 500}``).
        feature_network: the generation metrics' feature network: a shipped name, a
            ``.keras`` path, a Keras model or a callable (default: the dataset's shipped one;
            a dataset without one skips the generation metrics, saying what to pass).
        generation_samples: images drawn per sample source (default: the split's size; 0
            skips the generation metrics).
        samplers: ``{name: sampler}``, each with ``sample(n, seed=)``, scored beside the
            model's own samples (e.g. a sampler fitted to the training codes).
        sampler_names: names of :mod:`ae_zoo.samplers` (``--sampler``), each fitted here
            (:func:`fit_samplers`) and scored beside the model's own samples; its entry in
            ``generation["samples"]`` records how it was ``fitted``.
        log: a callable taking progress lines (e.g. ``print``), or None.
    """
    say = log or (lambda *_: None)
    _check_arguments(iwae_samples, num_examples)
    if generation_samples is not None and (isinstance(generation_samples, bool)
                                           or int(generation_samples) < 0):
        raise ValueError(f"generation_samples must be an integer >= 0, got {generation_samples!r}")
    if feature_network is not None and isinstance(feature_network, (str, os.PathLike)):
        feature_network = feature_networks.load(feature_network)  # a bad name fails here
    names = scoring.resolve_metrics(metrics)
    sampler_names = _check_sampler_names(sampler_names)
    timings, start = {}, time.time()
    model, info = load_evaluand(path)
    timings["load"] = time.time() - start
    data, options = _dataset(model, info, dataset, split, num_examples, data_options)
    _check_samplers_fit(model, info, sampler_names)
    if metrics is not None and names and data.ground_truth is None:
        raise ValueError(f"dataset {data.name!r} has no ground-truth factors, so the "
                         "disentanglement metrics cannot run; use a dataset with factors "
                         "(dsprites, color_dsprites, noisy_dsprites, shapes3d) or "
                         "--metrics none")
    settings = scoring.merge_settings(scoring.FAST_METRIC_SETTINGS if fast_metrics
                                      else scoring.FULL_METRIC_SETTINGS, metric_settings)
    scoring.check_settings(settings)
    out = os.fspath(out) if out else default_out(info)
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(int(seed))
    labels = data.y if model.conditional else None
    unavailable = {}
    say(f"Evaluating {info['path']} ({info['registry_name'] or type(model).__name__}) on "
        f"{data.name}/{split} ({len(data)} examples) -> {out}/")

    start = time.time()
    iwae = next(v for v in (iwae_samples, info["iwae_samples"], 50) if v is not None)
    reconstruction, losses, likelihood = _losses_and_likelihood(model, data, labels, iwae,
                                                                batch_size, unavailable)
    timings["reconstruction_and_likelihood"] = time.time() - start
    start = time.time()
    stats = _latent.latent_stats(model, data.x, labels=labels, batch_size=batch_size)
    timings["latent_stats"] = time.time() - start
    say(_summary_line(reconstruction, likelihood, stats))
    start = time.time()
    disentanglement = _disentanglement(model, data, names, settings, seed, fast_metrics,
                                       unavailable, say)
    timings["disentanglement"] = time.time() - start
    start = time.time()
    generation = _generation(model, data, {"feature_network": feature_network,
                                           "num_samples": generation_samples,
                                           "samplers": samplers,
                                           "fit_samplers": lambda: fit_samplers(
                                               sampler_names, info, data, options, seed, say)},
                             seed, unavailable, say)
    timings["generation"] = time.time() - start
    written = {}
    if figures:
        start = time.time()
        written, skipped = make_figures(model, data, out, stats, seed=int(seed))
        if disentanglement is not None and disentanglement_figure(
                disentanglement, path=os.path.join(out, "disentanglement.png"),
                title=f"{info['name']} on {data.name}/{split}: disentanglement scores "
                      f"({disentanglement['preset']} settings)"):
            written["disentanglement"] = "disentanglement.png"
        unavailable.update({f"figure:{k}": v for k, v in skipped.items()})
        timings["figures"] = time.time() - start

    result = {
        "source": {"kind": info["kind"], "path": info["path"], "name": info["name"],
                   "model": info["registry_name"], "capabilities": model.capabilities(),
                   "sampler": model.sampler_name,
                   "class": (info.get("card") or {}).get("class") or type(model).__name__,
                   "latent_dim": int(model.latent_dim), "input_shape": list(model.example_shape)},
        "dataset": {"name": data.name, "split": split, "options": options,
                    "num_examples": len(data), "has_labels": data.y is not None,
                    "has_factors": data.ground_truth is not None},
        "reconstruction": reconstruction, "losses": losses, "likelihood": likelihood,
        "latent": latent_summary(stats), "disentanglement": disentanglement,
        "generation": generation,
        "figures": written, "unavailable": unavailable, "seed": int(seed), "seconds": timings,
    }
    if info["kind"] == "saved_model":
        result["card_metrics"] = (info.get("card") or {}).get("metrics")
    result = to_jsonable(result)
    result["out"] = out
    write_json(os.path.join(out, "evaluation.json"), result)
    return result
