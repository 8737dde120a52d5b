"""The dense VAE of benchmarks/throughput.py trained with Pythae's ``TrainingPipeline``.

Run by the benchmark in its own virtual environment (pythae and torch CPU; not
dependencies of ae_zoo): ``python pythae_vae.py DATA.npy BATCH EPOCHS``. Prints one JSON
line: the training samples/s of every epoch (timed by a Pythae training callback, so an
epoch includes what Pythae's trainer does in it, such as keeping a copy of the best model).
The model is the benchmark's 784-512-256-16 VAE: Pythae's VAE with "bce" reconstruction
on a sigmoid decoder, Adam(1e-3).
"""

import json
import sys
import tempfile
import time

import numpy as np
import torch
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.pipelines import TrainingPipeline
from pythae.trainers import BaseTrainerConfig
from pythae.trainers.training_callbacks import TrainingCallback
from torch import nn


class Encoder(BaseEncoder):
    def __init__(self, pixels, latent, hidden=(512, 256)):
        super().__init__()
        sizes = [pixels, *hidden]
        self.net = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:])
                                   for m in (nn.Linear(a, b), nn.ReLU())])
        self.mean, self.log_var = nn.Linear(hidden[-1], latent), nn.Linear(hidden[-1], latent)

    def forward(self, x):
        h = self.net(x.flatten(1))
        return ModelOutput(embedding=self.mean(h), log_covariance=self.log_var(h))


class Decoder(BaseDecoder):
    def __init__(self, shape, latent, hidden=(256, 512)):
        super().__init__()
        sizes = [latent, *hidden]
        self.shape = shape
        self.net = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:])
                                   for m in (nn.Linear(a, b), nn.ReLU())],
                                 nn.Linear(hidden[-1], int(np.prod(shape))), nn.Sigmoid())

    def forward(self, z):
        return ModelOutput(reconstruction=self.net(z).view(-1, *self.shape))


class EpochTimer(TrainingCallback):
    def __init__(self, samples):
        self.samples, self.rates = samples, []

    def on_epoch_begin(self, training_config, **kwargs):
        self.start = time.perf_counter()

    def on_epoch_end(self, training_config, **kwargs):
        self.rates.append(self.samples / (time.perf_counter() - self.start))


def main():
    path, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.manual_seed(0)
    x = np.load(path).transpose(0, 3, 1, 2).copy()  # NHWC -> NCHW
    shape, latent = x.shape[1:], 16
    config = VAEConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(int(np.prod(shape)), latent), decoder=Decoder(shape, latent))
    timer = EpochTimer(len(x))
    with tempfile.TemporaryDirectory() as out:
        training = BaseTrainerConfig(output_dir=out, num_epochs=epochs, learning_rate=1e-3,
                                     per_device_train_batch_size=batch, no_cuda=True)
        TrainingPipeline(model=model, training_config=training)(train_data=x, callbacks=[timer])
    print(json.dumps({"samples_per_second": timer.rates}))


if __name__ == "__main__":
    main()
