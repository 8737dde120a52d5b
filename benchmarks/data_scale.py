"""Data at scale: uint8 images in memory, and streaming a split over the memory budget.

    python benchmarks/data_scale.py [--data-dir DIR] [--skip-speed] [--skip-memory]
                                    [--before PATH_OF_AN_OLDER_CHECKOUT]

1. Speed: the dense VAE (784-512-256-16, batch 128) trained with ``model.fit`` on a
   TFDS-format copy of the 5,000 mnist5k digits held in memory (uint8) and streamed from
   its files (``memory_budget_mb=0``), interleaved, 3 runs of 4 epochs (the first excluded,
   and its time printed: the streamed path decodes the files then and writes its decoded
   cache, which the later epochs read): batches per second of each, and their ratio
   (target: streaming within 10%).
2. Memory: the peak resident memory (``/usr/bin/time -v``) of ``ae-zoo train`` (the conv
   VAE, 20 steps) on a synthetic TFDS-format dataset of 100,000 64x64x3 images: the
   recipe's default budget (4,096 MB: 1.2 GB of uint8 images stay in memory) and a 256 MB
   budget (streamed); with ``--before PATH``, the same command run on an older checkout
   (its float32 images) for comparison.
The datasets are built once into ``--data-dir`` (default benchmarks/.data; the 100,000
images take a few minutes to encode).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from etils import epath  # noqa: E402

import ae_zoo  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class _LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A builder defined here (no checksums file, no metadata folder to look up)."""

    code_path = None
    pkg_dir_path = epath.Path(HERE)
    VERSION = tfds.core.Version("1.0.0")


class AeZooBenchDigits(_LocalBuilder):
    """The 5,000 mnist5k digits as uint8 images with labels: train 4,000, test 1,000."""

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(num_classes=10)}))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in ("train", "test")}

    def _generate_examples(self, split):
        part = ae_zoo.data.load("mnist5k", split)
        images = np.round(part.x * 255).astype(np.uint8)
        for i, (image, label) in enumerate(zip(images, part.y)):
            yield i, {"image": image, "label": int(label)}


def synthetic_images(start, count, size=64):
    """Procedural 64x64x3 uint8 images: an ellipse of a random colour on a two-colour
    gradient, a pure function of the image's index."""
    rows = np.linspace(0.0, 1.0, size)[:, None, None]
    cols = np.linspace(0.0, 1.0, size)[None, :, None]
    for index in range(start, start + count):
        rng = np.random.default_rng(index)
        a, b, colour = rng.uniform(size=(3, 3))
        cy, cx, ry, rx = rng.uniform(0.2, 0.8, size=2).tolist() + rng.uniform(0.08, 0.3, size=2).tolist()
        image = a + (b - a) * (rows + cols) / 2
        inside = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1.0
        image = np.where(inside, colour, image)
        yield index, np.round(image * 255).astype(np.uint8)


class AeZooBenchSynthetic64(_LocalBuilder):
    """100,000 procedural 64x64x3 images (train) and 5,000 (test)."""

    SIZES = {"train": 100_000, "test": 5_000}

    def _info(self):
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(64, 64, 3))}))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in self.SIZES}

    def _generate_examples(self, split):
        start = 0 if split == "train" else self.SIZES["train"]
        for index, image in synthetic_images(start, self.SIZES[split]):
            yield index, {"image": image}


def prepare(builder_class, data_dir):
    builder = builder_class(data_dir=data_dir)
    if not builder.is_prepared():
        print(f"Building {builder.name} in {data_dir} ...", flush=True)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return builder.name


class BatchTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def batches_per_second(dataset, epochs=4):
    keras.utils.set_random_seed(0)
    model = ae_zoo.models.create("vae", latent_dim=16, input_shape=(28, 28, 1),
                                 hidden_units=(512, 256), seed=0)
    model.compile()
    timer = BatchTimer()
    timer.times = []
    model.fit(dataset, batch_size=128, epochs=epochs, verbose=0, callbacks=[timer])
    return int(np.ceil(len(dataset) / 128)) / statistics.median(timer.times[1:]), timer.times[0]


def speed(data_dir, repeats=3):
    name = "tfds:" + prepare(AeZooBenchDigits, data_dir)
    runs = {"in memory (uint8)": [], "streamed": []}
    first = {label: [] for label in runs}
    for _ in range(repeats):
        for label, budget in (("in memory (uint8)", None), ("streamed", 0)):
            rate, seconds = batches_per_second(ae_zoo.data.load(name, "train", data_dir,
                                                                memory_budget_mb=budget))
            runs[label].append(rate)
            first[label].append(seconds)
    print("\nDense VAE on a TFDS-format mnist5k (4,000 training digits, batch 128), batches/s "
          "of epochs 2-4 (the streamed path reads its decoded cache), and the first epoch's "
          "seconds (tracing and compiling; the streamed path also decodes the files and writes "
          "its cache)")
    for label, values in runs.items():
        print(f"  {label:<20} {statistics.median(values):8.1f}   (runs: "
              f"{', '.join(f'{v:.1f}' for v in values)}); first epoch "
              f"{statistics.median(first[label]):.1f} s")
    ratios = [s / m for s, m in zip(runs["streamed"], runs["in memory (uint8)"])]
    print(f"  streamed / in memory {statistics.median(ratios):8.2f}   (runs: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})   target >= 0.90")


def peak_memory(data_dir, checkout, *settings):
    """Peak resident memory (MB) and seconds of `ae-zoo train` on the synthetic images."""
    name = "tfds:" + prepare(AeZooBenchSynthetic64, data_dir)
    out = os.path.join(data_dir, "runs", f"run-{time.time_ns()}")
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "ae_zoo", "train", "vae",
               "--dataset", name, "--architecture", "conv", "--steps", "20", "--batch-size", "64",
               "--iwae-samples", "0", "--out", out, "--set", f"data.data_dir={data_dir}",
               *[part for setting in settings for part in ("--set", setting)]]
    env = {**os.environ, "PYTHONPATH": checkout, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=data_dir)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    kilobytes = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return kilobytes / 1024, time.time() - start


def memory(data_dir, before):
    print("\nae-zoo train vae --architecture conv --steps 20 on 100,000 synthetic 64x64x3 "
          "TFDS images: peak resident memory")
    cases = []
    if before:
        cases.append((f"before ({before})", before, ()))
    cases += [("uint8 in memory (default 4,096 MB budget)", ROOT, ()),
              ("streamed (256 MB budget)", ROOT, ("data.memory_budget_mb=256",))]
    for label, checkout, settings in cases:
        megabytes, seconds = peak_memory(data_dir, checkout, *settings)
        print(f"  {label:<45} {megabytes:8.0f} MB   ({seconds:.0f} s)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(HERE, ".data"))
    parser.add_argument("--before", default=None, help="an older checkout to measure too")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    data_dir = os.path.abspath(args.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    if not args.skip_speed:
        speed(data_dir)
    if not args.skip_memory:
        memory(data_dir, args.before and os.path.abspath(args.before))


if __name__ == "__main__":
    main()
