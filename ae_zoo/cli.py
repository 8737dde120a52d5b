"""The ``ae-zoo`` command (also ``python -m ae_zoo``).

Each command imports what it needs inside its function: TensorFlow takes seconds to load,
and ``ae-zoo --help`` and ``ae-zoo list`` do not wait for it (``ae_zoo`` defers its imports
in this command). TensorFlow's and absl's log lines are silenced unless ``ae-zoo
--verbose-logs COMMAND`` or ``AE_ZOO_VERBOSE=1``.
"""

import argparse
import contextlib
import logging
import os
import shlex
import sys

import ae_zoo
from ae_zoo import _catalog

#: ``AE_ZOO_VERBOSE=1`` (or ``--verbose-logs`` before the command) keeps TensorFlow's log lines.
VERBOSE_ENV = "AE_ZOO_VERBOSE"


def cmd_list(args):
    print("Models:")
    for name, summary in _catalog.MODELS.items():
        print(f"  {name:<14} {summary}")
    for name, target in sorted(_catalog.plugin_entry_points().items()):
        print(f"  {name:<14} plugin: {target}")
    print("Datasets:")
    for name, summary in _catalog.DATASETS.items():
        print(f"  {name:<14} {summary}")
    print("  tfds:NAME      any TensorFlow Datasets dataset prepared in data_dir")
    return 0


@contextlib.contextmanager
def _stderr_silenced():
    """Points file descriptor 2 at /dev/null: TensorFlow's C++ libraries write their
    start-up lines there directly, whatever TF_CPP_MIN_LOG_LEVEL says."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tensorflow(verbose=False):
    """Imports ae_zoo's models and TensorFlow for a command; unless ``verbose``, without
    TensorFlow's or absl's log lines (only errors that stop the command are shown, and
    TensorFlow's retracing warnings said once in plain words: see
    :mod:`ae_zoo.training.console`)."""
    if not verbose and "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _stderr_silenced():
            import tensorflow  # noqa: F401  (a command that trains: its C++ start-up lines silenced)
        logging.getLogger("absl").setLevel(logging.ERROR)
    ae_zoo.load_all()
    if not verbose:
        from ae_zoo.training.console import RetracingNote

        logger = logging.getLogger("tensorflow")
        logger.setLevel(logging.WARNING)  # warnings reach the filter: it keeps errors only
        if not any(isinstance(f, RetracingNote) for f in logger.filters):
            logger.addFilter(RetracingNote(min_level=logging.ERROR))


def _command_line(args):
    """The command as typed (shell-quoted), recorded in the runs and reports it writes."""
    return " ".join(["ae-zoo", *map(shlex.quote, args.argv)])


def _contents(folder):
    """What ``folder`` holds, sorted, folders with a trailing slash (hidden names left out)."""
    return sorted(name + ("/" if os.path.isdir(os.path.join(folder, name)) else "")
                  for name in os.listdir(folder) if not name.startswith("."))


#: ``--xla on | off | auto`` as the recipe's ``training.jit_compile``.
_JIT_COMPILE = {"on": True, "off": False, "auto": "auto"}


def _print_test_metrics(metrics):
    for key in sorted(k for k in metrics if k.startswith("test_")):
        print(f"  {key:<28} {metrics[key]:.4f}")


def _print_figures(out, files):
    """The closing lines: every figure the command wrote."""
    from ae_zoo.experiments.common import figure_lines

    for line in figure_lines(out, files):
        print(line)


def cmd_train(args):
    from ae_zoo.experiments.train import run, train
    from ae_zoo.training import recipes

    command = _command_line(args)
    flags = dict(epochs=args.epochs, batch_size=args.batch_size, latent_dim=args.latent_dim,
                 seed=args.seed, out=args.out, architecture=args.architecture,
                 learning_rate=args.learning_rate, steps=args.steps,
                 iwae_samples=args.iwae_samples,
                 jit_compile=_JIT_COMPILE.get(args.xla))
    if args.recipe:
        paths = {
            "epochs": "training.epochs", "batch_size": "training.batch_size",
            "latent_dim": "model.latent_dim", "seed": "training.seed", "out": "out",
            "architecture": "model.architecture", "learning_rate": "training.optimizer.learning_rate",
            "steps": "training.steps", "iwae_samples": "training.iwae_samples",
            "jit_compile": "training.jit_compile",
        }
        overrides = [(paths[k].split("."), v) for k, v in flags.items() if v is not None]
        if args.model:
            overrides.append((["model", "name"], args.model))
        if args.dataset:
            overrides.append((["data", "name"], args.dataset))
        recipe = recipes.load(args.recipe, overrides + list(args.set))
        result = run(recipe, command=command, overwrite=args.overwrite, restart=args.restart,
                     log=print)
    elif args.model:
        result = train(args.model, args.dataset or "mnist5k", overrides=args.set, command=command,
                       overwrite=args.overwrite, restart=args.restart, log=print, **flags)
    else:
        raise ValueError("name a MODEL or pass --recipe recipes/NAME.yaml")
    print(f"\nWrote {result['out']}/: {', '.join(_contents(result['out']))}")
    if result["model"].sampler_name:
        print(f"  model.sample draws from its {result['model'].sampler_name} sampler, fitted to "
              "its training codes")
    _print_test_metrics(result["metrics"])
    _print_figures(result["out"], result["figures"])
    return 0


def cmd_tune(args):
    from ae_zoo.tuning.recipe_files import load_raw
    from ae_zoo.tuning.search import tune

    command = _command_line(args)
    overrides = list(args.set)
    if args.xla:
        overrides.append((["training", "jit_compile"], _JIT_COMPILE[args.xla]))
    recipe = load_raw(args.recipe, overrides)
    result = tune(recipe, tuner=args.tuner, max_trials=args.max_trials, epochs=args.epochs,
                  objective=args.objective, out=args.out, export=args.export,
                  overwrite=args.overwrite, validation_split=args.validation_split,
                  retrain=not args.no_retrain, verbose=args.verbose, command=command)
    print(f"\nBest trial {result['best_trial']} of {len(result['trials'])}: "
          f"{result['objective'].name} = {result['best_score']:.4f}; recipe {result['best_recipe']}")
    if "run" in result:
        print(f"Retrained in {result['run']['out']}/; exported to {result['export_path']}")
        _print_test_metrics(result["run"]["metrics"])
        _print_figures(result["run"]["out"], result["run"].get("figures") or {})
    return 0


def cmd_export(args):
    from ae_zoo.export.card import export_run

    run_name = os.path.basename(os.path.normpath(args.run)).removesuffix(".keras")
    out = args.out or os.path.join("exports", run_name)
    result = export_run(args.run, out, version=args.version, recipe=args.recipe,
                        warmup=False if args.no_warmup else None, overwrite=args.overwrite)
    card = result["card"]
    print(f"Wrote {result['path']}/ (SavedModel and model.keras) and {out}/card.json, README.md")
    for name, spec in card["signatures"].items():
        inputs = ", ".join(spec["inputs"])
        outputs = ", ".join(spec["outputs"])
        print(f"  {name:<16} {inputs} -> {outputs}")
    return 0


def cmd_serving_config(args):
    from ae_zoo.export.serving import write_serving_config

    path, served = write_serving_config(args.models_dir, out=args.out, base_path=args.base_path)
    print(f"Wrote {path}: serves {', '.join(served)}")
    print(f"  tensorflow_model_server --rest_api_port=8501 --model_config_file={path}")
    return 0


def _metric_settings(items):
    """``--metric-setting num_train=2000`` / ``dci.estimator=gbt`` -> compute_all overrides."""
    from ae_zoo.training.recipes import parse_value

    settings = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--metric-setting {item!r}: expected KEY=VALUE, e.g. num_train=2000 "
                             "or dci.estimator=gbt")
        key, raw = item.split("=", 1)
        value = parse_value(raw, f"--metric-setting {item!r}")
        if "." in key:
            metric, key = key.split(".", 1)
            settings.setdefault(metric.strip(), {})[key.strip()] = value
        else:
            settings[key.strip()] = value
    return settings


def cmd_evaluate(args):
    from ae_zoo.experiments.evaluate import evaluate_run

    result = evaluate_run(args.path, dataset=args.dataset, split=args.split, out=args.out,
                          metrics=args.metrics, iwae_samples=args.iwae_samples, seed=args.seed,
                          metric_settings=_metric_settings(args.metric_setting),
                          fast_metrics=args.fast_metrics, num_examples=args.num_examples,
                          figures=not args.no_figures, feature_network=args.feature_network,
                          generation_samples=args.generation_samples,
                          sampler_names=args.sampler, log=print)
    print(f"\nWrote {result['out']}/evaluation.json and {len(result['figures'])} figures")
    rows = [("reconstruction_mse", result["reconstruction"]["mse"]),
            ("reconstruction_loss", result["reconstruction"]["loss"])]
    likelihood = result["likelihood"] or {}
    rows += [("elbo", likelihood.get("elbo")), ("iwae_nll", likelihood.get("iwae_nll"))]
    rows += list(((result["disentanglement"] or {}).get("headline") or {}).items())
    generation = result["generation"] or {}
    for source, scores in [*generation.get("samples", {}).items(),
                           ("reconstructions", generation.get("reconstructions"))]:
        prefix = "reconstruction_" if source == "reconstructions" else (
            "" if source == "default" else f"{source}_")
        rows += [(f"{prefix}{key}", (scores or {}).get(key))
                 for key in ("fid", "kid", "precision", "recall")]
    for key, value in rows:
        if value is not None:
            print(f"  {key:<46} {value:.4f}")
    for key, why in result["unavailable"].items():
        print(f"  {key:<46} n/a: {why}")
    if not args.no_figures:
        _print_figures(result["out"], result["figures"])
    return 0


def cmd_compare(args):
    from ae_zoo.experiments.compare import compare_models

    if len(args.models) == 1 or (not args.models and not args.runs):
        raise ValueError("name two or more models (e.g. `ae-zoo compare ae vae`), or pass "
                         "--runs RUN_A RUN_B ...")
    command = _command_line(args)
    result = compare_models(args.models or None, args.dataset, epochs=args.epochs,
                            latent_dim=args.latent_dim,
                            architecture=args.architecture, out=args.out, runs=args.runs,
                            seed=args.seed, overrides=args.set, figures=not args.no_figures,
                            verbose=args.verbose, log=print, command=command,
                            overwrite=args.overwrite)
    print()
    for line in result["summary"]:
        print(f"  {line}")
    _print_figures(result["out"], result["figures"])
    for trained in result["run_figures"].values():  # each run trained here drew its own
        _print_figures(trained["out"], trained["figures"])
    return 0


def _hparam_points(value):
    """``--hparam-points``: an int, "all" or "none"."""
    if value in ("all", "none"):
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int, all or none, got {value!r}") from None


def cmd_study(args):
    from ae_zoo.experiments.study import (
        DEFAULT_HPARAM_POINTS,
        DEFAULT_MODELS,
        DEFAULT_SEEDS,
        DEFAULT_STEPS,
        run_study,
    )

    command = _command_line(args)
    points = DEFAULT_HPARAM_POINTS if args.hparam_points is None else args.hparam_points
    run_study(args.models or DEFAULT_MODELS, args.seeds or DEFAULT_SEEDS, args.dataset,
              steps=DEFAULT_STEPS if args.steps is None else args.steps, out=args.out,
              full_metrics=args.full_metrics, metric_settings=_metric_settings(args.metric_setting),
              metrics=args.metrics, iwae_samples=args.iwae_samples, overrides=args.set,
              verbose=args.verbose, log=lambda line: print(line, flush=True), command=command,
              hparam_points=None if points == "none" else points,
              stale_after=args.claim_timeout, overwrite=args.overwrite)
    return 0


def cmd_benchmark(args):
    from ae_zoo.experiments.benchmark import DEFAULT_BUDGET, DEFAULT_SEEDS, run_benchmark

    board = run_benchmark(args.dataset, args.models, args.budget or DEFAULT_BUDGET,
                          args.seeds or DEFAULT_SEEDS, out=args.out,
                          feature_network=args.feature_network, num_samples=args.num_samples,
                          iwae_samples=args.iwae_samples, overrides=args.set,
                          figures=not args.no_figures, verbose=args.verbose,
                          log=lambda line: print(line, flush=True),
                          command=_command_line(args), overwrite=args.overwrite)
    for rank, model in enumerate(board["ranking"], 1):
        fid, mse = (board["summary"][model][k]["mean"] for k in ("fid", "reconstruction_mse"))
        print(f"  {rank:>2}. {model:<16} FID {'n/a' if fid is None else f'{fid:7.1f}'}   "
              f"rec. MSE {'n/a' if mse is None else f'{mse:.4f}'}")
    return 0


def cmd_feature_network(args):
    from ae_zoo.evaluation import feature_networks

    card = feature_networks.train(args.name, args.out, epochs=args.epochs, seed=args.seed,
                                  command=_command_line(args))
    print(f"\nWrote {args.out}/{args.name}.keras, {args.name}.json and {args.name}.md: test "
          f"accuracy {card['test_accuracy']:.2%}, features: layer {card['feature_layer']!r} "
          f"({card['feature_dim']} dimensions)")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="ae-zoo", description="Autoencoders for Keras 3.")
    parser.add_argument("--verbose-logs", action="store_true",
                        help=f"keep TensorFlow's and absl's log lines (or {VERBOSE_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the models and datasets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", help="train a model on a dataset and write a run directory")
    p.add_argument("model", nargs="?", help="model name (see `ae-zoo list`)")
    p.add_argument("--recipe", help="a recipe YAML file (recipes/NAME.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set training.epochs=5 (repeatable)")
    p.add_argument("--dataset", default=None, help="dataset name (default: mnist5k)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="total training steps (overrides epochs)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--latent-dim", type=int, default=None)
    p.add_argument("--architecture", choices=("mlp", "conv", "conv_unpool"), default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--iwae-samples", type=int, default=None,
                   help="importance samples of -log p(x) for a model with a likelihood (0 to skip)")
    p.add_argument("--xla", choices=("auto", "on", "off"), default=None,
                   help="XLA-compile the train step (auto: on unless unsupported)")
    p.add_argument("--out", default=None, help="run directory (default: runs/MODEL_DATASET)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in the run directory")
    p.add_argument("--restart", action="store_true",
                   help="discard the backup of an interrupted run and train from the start")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="search a recipe's hyperparameters with keras-tuner; "
                                    "write the best as a recipe, retrain and export it")
    p.add_argument("--recipe", required=True, help="a recipe YAML file (recipes/NAME.yaml); its "
                   "optional `tuning:` section overrides the default search space")
    p.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random")
    p.add_argument("--max-trials", type=int, default=10,
                   help="number of trials (hyperband: at most this many)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per trial, hyperband's max epochs (default: the recipe's)")
    p.add_argument("--objective", default=None,
                   help="metric to optimize, e.g. val_loss, val_reconstruction_loss, val_elbo "
                        "(default: val_elbo for the VAE family, val_reconstruction_loss for "
                        "sparse_ae, else val_loss)")
    p.add_argument("--validation-split", type=float, default=0.1,
                   help="fraction of the train split the trials are scored on (the test split "
                        "is kept for the final evaluation)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set training.batch_size=64 (repeatable)")
    p.add_argument("--xla", choices=("auto", "on", "off"), default=None,
                   help="XLA-compile the train step (default: the recipe's)")
    p.add_argument("--out", default=None,
                   help="search directory (default: runs/NAME_tune); rerun to resume")
    p.add_argument("--overwrite", action="store_true",
                   help="start the search over and replace its retrained best run")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="export the retrained best model with its card to DIR, e.g. "
                        "exports/NAME (default: the recipe's export section)")
    p.add_argument("--no-retrain", action="store_true",
                   help="stop after writing the best recipe")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="0 quiet, 1 trial summaries and one line per epoch, 2 progress bars")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("export", help="export a trained run as a TF Serving SavedModel with its card")
    p.add_argument("run", metavar="RUN_DIR", help="run directory of `ae-zoo train` (or a .keras file)")
    p.add_argument("--out", default=None,
                   help="model folder (default: exports/RUN_NAME; keep the shipped zoo, "
                        "saved_models/, for the shipped models)")
    p.add_argument("--version", type=int, default=None,
                   help="SavedModel version number (default: the next free one)")
    p.add_argument("--recipe", default=None, help="recipe to record in the card (default: run.json's)")
    p.add_argument("--no-warmup", action="store_true",
                   help="do not write assets.extra/tf_serving_warmup_requests")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --version")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serving-config", help="write a TF Serving models.config serving every model folder")
    p.add_argument("models_dir", metavar="MODELS_DIR", help="folder of model folders, e.g. saved_models/")
    p.add_argument("--out", default=None, help="config file (default: MODELS_DIR/models.config)")
    p.add_argument("--base-path", default=None,
                   help="the folder as the server sees it, e.g. /models inside a container "
                        "(default: absolute paths)")
    p.set_defaults(func=cmd_serving_config)

    p = sub.add_parser("evaluate", help="evaluate a run or a SavedModel: evaluation.json "
                                        "(reconstruction, ELBO/-log p(x), latent statistics, "
                                        "disentanglement and generation metrics) and figures")
    p.add_argument("path", metavar="RUN_DIR_OR_SAVEDMODEL",
                   help="run directory of `ae-zoo train`, a .keras file, a SavedModel folder or "
                        "version directory, or a zoo name")
    p.add_argument("--dataset", default=None,
                   help="dataset to evaluate on (default: the run's recipe or the card's)")
    p.add_argument("--split", default="test")
    p.add_argument("--out", default=None, help="output folder (default: RUN_DIR/evaluation; "
                                               "for a SavedModel runs/NAME_evaluation)")
    p.add_argument("--metrics", default=None,
                   help="disentanglement metrics, e.g. mig,dci,beta_vae,factor_vae,sap,modularity,"
                        "unsupervised, or all / none (default: all when the dataset has "
                        "ground-truth factors)")
    p.add_argument("--fast-metrics", action="store_true",
                   help="the study's reduced metric settings (seconds, not minutes) instead of "
                        "Locatello et al.'s")
    p.add_argument("--metric-setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a metric setting, e.g. num_train=2000 or dci.estimator=gbt (repeatable)")
    p.add_argument("--iwae-samples", type=int, default=None,
                   help="importance samples for -log p(x) (default: the recipe's, else 50; 0 skips)")
    p.add_argument("--num-examples", type=int, default=None,
                   help="evaluate on the first N examples of the split (default: all)")
    p.add_argument("--no-figures", action="store_true", help="write evaluation.json only")
    p.add_argument("--feature-network", default=None, metavar="NAME_OR_FILE",
                   help="feature network of the generation metrics: mnist5k, dsprites or a "
                        ".keras file (default: the dataset's shipped one)")
    p.add_argument("--generation-samples", type=int, default=None, metavar="N",
                   help="samples drawn for FID/KID/precision/recall (default: as many as the "
                        "split has examples; 0 skips the generation metrics)")
    p.add_argument("--sampler", action="append", default=[], metavar="NAME",
                   help="also score the samples of sampler NAME (of ae_zoo.samplers, e.g. gmm, "
                        "maf) fitted to the model's training codes (repeatable; needs the Keras "
                        "model: a run or a .keras file)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the metrics, the samples (image i from seed + i) and the Keras RNG")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="train (or load) models with the same networks and "
                                       "latent size and write a side-by-side report")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="two or more registered model names, e.g. ae rae_l2 vae wae_mmd vq_vae "
                        "(with --runs: their labels)")
    p.add_argument("--dataset", default=None, help="dataset name (default: mnist5k, or the runs')")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs for all (default: the first model's recipe)")
    p.add_argument("--latent-dim", type=int, default=None,
                   help="latent size of all (default: the first model's recipe)")
    p.add_argument("--architecture", choices=("mlp", "conv", "conv_unpool"), default=None,
                   help="networks of all (default: the first model's recipe)")
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                   help="compare these finished runs (two or more) instead of training")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of every recipe, e.g. --set training.batch_size=64")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                   help="Keras verbosity while training")
    p.add_argument("--out", default=None,
                   help="report folder (default: runs/compare_A_B_...); the runs go to OUT/MODEL/ and "
                        "are reused when there")
    p.add_argument("--overwrite", action="store_true",
                   help="retrain a run in OUT/MODEL/ that was trained otherwise (else refused)")
    p.add_argument("--no-figures", action="store_true",
                   help="compare.json and the report's tables only (no PNGs)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("study", help="train every (model, hyperparameters, seed) run, score "
                                     "each with every disentanglement metric, and report "
                                     "Locatello et al.'s three findings")
    p.add_argument("--models", default=None,
                   help="comma-separated model names with a <model>_<dataset> recipe (default: "
                        "beta_vae,annealed_vae,beta_tcvae,factor_vae,dip_vae_i,dip_vae_ii)")
    p.add_argument("--seeds", default=None,
                   help="comma-separated training seeds (default: 0,1)")
    p.add_argument("--hparam-points", type=_hparam_points, default=None, metavar="N|all|none",
                   help="values taken from each model's hyperparameter grid of the paper, both "
                        "ends first (default: 2; all: the whole grid; none: the recipes' values)")
    p.add_argument("--dataset", default="dsprites",
                   help="a dataset with ground-truth factors: dsprites, color_dsprites, "
                        "noisy_dsprites, shapes3d; several, comma-separated: a study each "
                        "in OUT/<dataset>/ and the hyperparameter transfer between them")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per run (default: 1000, sized so the default 24 runs "
                        "and their metrics finish within about an hour on 2 CPU cores)")
    p.add_argument("--full-metrics", action="store_true",
                   help="Locatello et al.'s metric settings (minutes per run on 2 cores) "
                        "instead of the study's reduced ones")
    p.add_argument("--metrics", default=None, help="metrics to run (default: all)")
    p.add_argument("--metric-setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a metric setting, e.g. num_train=5000 or dci.estimator=gbt (repeatable)")
    p.add_argument("--iwae-samples", type=int, default=0,
                   help="importance samples for each run's -log p(x) (default 0: metrics only)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of every recipe, e.g. --set training.batch_size=128")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                   help="Keras verbosity while training (progress lines are printed anyway)")
    p.add_argument("--out", default="runs/study",
                   help="study folder (default: %(default)s); rerun to resume; run the same "
                        "command in several processes or machines to share the runs")
    p.add_argument("--claim-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="a run claimed by a worker that has not shown a sign of life for this "
                        "long is taken over (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="retrain the runs in OUT that were trained otherwise (else refused)")
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("benchmark", help="train every registered model with a few seeds and "
                                         "write a leaderboard (reconstruction, -log p(x), FID, ...)")
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--models", default="all",
                   help="all (default: every registered model) or comma-separated names")
    p.add_argument("--budget", default=None,
                   help="training length of every run: steps=N, epochs=N, N (steps) or recipe; "
                        "default steps=500: about 30 models x 3 seeds on mnist5k in an hour on "
                        "2 CPU cores")
    p.add_argument("--seeds", default=None, help="comma-separated training seeds (default: 0,1,2)")
    p.add_argument("--feature-network", default=None, metavar="NAME_OR_FILE",
                   help="feature network of the generation metrics (default: the dataset's)")
    p.add_argument("--num-samples", type=int, default=None,
                   help="samples per run (default: the test split's size)")
    p.add_argument("--iwae-samples", type=int, default=50, help="-log p(x) importance samples")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of every recipe, e.g. --set training.batch_size=64")
    p.add_argument("--no-figures", action="store_true",
                   help="the leaderboard's tables only (no bar charts, no samples mosaic)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0)
    p.add_argument("--out", default="runs/benchmark",
                   help="default %(default)s; rerun to resume; several processes share it")
    p.add_argument("--overwrite", action="store_true",
                   help="retrain the runs in OUT that were trained otherwise (else refused)")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("feature-network", help="retrain a feature network of the generation "
                                               "metrics; write it with its card")
    p.add_argument("name", choices=("mnist5k", "dsprites"))
    p.add_argument("--out", default="runs/feature_networks",
                   help="the shipped ones are in ae_zoo/evaluation/feature_networks")
    p.add_argument("--epochs", type=int, default=None, help="default: the shipped network's")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_feature_network)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        if args.func is not cmd_list:
            load_tensorflow(args.verbose_logs or os.environ.get(VERBOSE_ENV, "0") != "0")
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        # Bad names, values, missing data or a finished output: a one-line message.
        print(f"ae-zoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        # A run that failed for a reason of its own (TrainingDiverged) says so with its status.
        status = getattr(err, "exit_status", None)
        if status is None:
            raise
        print(f"ae-zoo {args.command}: error: {err}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
