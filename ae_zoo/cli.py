"""The ``ae-zoo`` command (also ``python -m ae_zoo``)."""

import argparse
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _first_doc_line(obj):
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def cmd_list(args):
    from ae_zoo import data, models

    print("Models:")
    for name in models.names():
        print(f"  {name:<14} {_first_doc_line(models.get(name))}")
    print("Datasets:")
    for name in data.names():
        print(f"  {name}")
    return 0


def cmd_train(args):
    from ae_zoo.training.runner import train

    result = train(
        args.model, args.dataset, epochs=args.epochs, batch_size=args.batch_size,
        latent_dim=args.latent_dim, seed=args.seed, out=args.out, architecture=args.architecture,
        learning_rate=args.learning_rate, iwae_samples=args.iwae_samples,
        jit_compile={"on": True, "off": False, "auto": "auto"}[args.xla],
        command=" ".join(["ae-zoo", *map(shlex.quote, args.argv)]),
    )
    metrics = result["metrics"]
    print(f"\nWrote {result['out']}/: model.keras, history.csv, metrics.json, reconstructions.png")
    for key in sorted(k for k in metrics if k.startswith("test_")):
        print(f"  {key:<28} {metrics[key]:.4f}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="ae-zoo", description="Autoencoders for Keras 3.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the models and datasets")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", help="train a model on a dataset and write a run directory")
    p.add_argument("model", help="model name (see `ae-zoo list`)")
    p.add_argument("--dataset", default="mnist5k", help="dataset name (default: mnist5k)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--latent-dim", type=int, default=None)
    p.add_argument("--architecture", choices=("mlp", "conv", "conv_unpool"), default=None)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iwae-samples", type=int, default=50,
                   help="importance samples for the VAE family's -log p(x) (0 to skip)")
    p.add_argument("--xla", choices=("auto", "on", "off"), default="auto",
                   help="XLA-compile the train step (auto: on unless unsupported)")
    p.add_argument("--out", default=None, help="run directory (default: runs/MODEL_DATASET)")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        # Bad names, values or missing data: a one-line message, not a stack trace.
        print(f"ae-zoo {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
