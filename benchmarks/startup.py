"""Start-up of the ``ae-zoo`` command: seconds to run ``ae-zoo --help`` and ``ae-zoo list``.

    python benchmarks/startup.py [--repeats 5] [--checkout PATH]

Each command runs ``--repeats`` times in a fresh interpreter (``python -m ae_zoo ...`` inside
the checkout, this one by default, so an older checkout gives the "before" figure); the
median and every run are printed, with the number of stderr lines (TensorFlow and absl log
lines) of the first run and whether TensorFlow was imported (``-X importtime``).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_once(checkout, argv, *flags):
    """Seconds and stderr lines of ``python [flags] -m ae_zoo ARGV``, run in the checkout
    (``-m`` imports the package of the working directory first)."""
    env = {**os.environ, "PYTHONPATH": checkout}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *flags, "-m", "ae_zoo", *argv], env=env,
                            cwd=checkout, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stderr.splitlines()


def imports_tensorflow(checkout, argv):
    """Whether the command imports TensorFlow (``python -X importtime`` lists every module)."""
    _, lines = run_once(checkout, argv, "-X", "importtime")
    return any(line.rsplit("|", 1)[-1].strip() == "tensorflow" for line in lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--checkout", default=HERE, help="the ae_zoo checkout to time")
    args = parser.parse_args()
    print(f"checkout {args.checkout}, {args.repeats} runs each, python {sys.version.split()[0]}")
    for argv in (["--help"], ["list"]):
        times, stderr = [], None
        for _ in range(args.repeats):
            seconds, lines = run_once(args.checkout, argv)
            times.append(seconds)
            stderr = lines if stderr is None else stderr
        imported = imports_tensorflow(args.checkout, argv)
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"ae-zoo {' '.join(argv):<7} median {statistics.median(times):6.2f} s  "
              f"(runs: {runs}); {len(stderr)} stderr lines; "
              f"imports TensorFlow: {imported}")


if __name__ == "__main__":
    main()
