"""The dense and conv VAEs of benchmarks/throughput.py as plain PyTorch training loops.

Run by the benchmark in its own virtual environment (torch CPU; not a dependency of
ae_zoo): ``python torch_vae.py {dense|conv} DATA.npy BATCH EPOCHS``. Prints one JSON line:
the training samples/s of every epoch. The models are the benchmark's: Bernoulli
likelihood on logits, KL to N(0, I), Adam(1e-3), the data reshuffled every epoch, the
last partial batch trained (as ae_zoo's fit does).
"""

import json
import sys
import time

import numpy as np
import torch
from torch import nn


class DenseVAE(nn.Module):
    """784-512-256-16 and its mirror."""

    def __init__(self, pixels, hidden=(512, 256), latent=16):
        super().__init__()
        sizes = [pixels, *hidden]
        self.encoder = nn.Sequential(*[m for a, b in zip(sizes, sizes[1:])
                                       for m in (nn.Linear(a, b), nn.ReLU())])
        self.head = nn.Linear(hidden[-1], 2 * latent)
        back = [latent, *reversed(hidden)]
        self.decoder = nn.Sequential(*[m for a, b in zip(back, back[1:])
                                       for m in (nn.Linear(a, b), nn.ReLU())],
                                     nn.Linear(hidden[0], pixels))

    def forward(self, x):
        mean, log_var = self.head(self.encoder(x.flatten(1))).chunk(2, dim=1)
        return mean, log_var, lambda z: self.decoder(z).view_as(x)


class ConvVAE(nn.Module):
    """Conv 32-32-64-64 (4x4, stride 2), dense 256, 10 latents, and its mirror."""

    def __init__(self, shape, filters=(32, 32, 64, 64), dense=256, latent=10):
        super().__init__()
        channels, size = shape[0], shape[1]
        layers, previous = [], channels
        for f in filters:
            layers += [nn.Conv2d(previous, f, 4, stride=2, padding=1), nn.ReLU()]
            previous, size = f, size // 2
        self.features = (previous, size, size)
        flat = previous * size * size
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, dense), nn.ReLU())
        self.head = nn.Linear(dense, 2 * latent)
        up = []
        for f in list(reversed(filters[:-1])) + [channels]:
            up += [nn.ConvTranspose2d(previous, f, 4, stride=2, padding=1), nn.ReLU()]
            previous = f
        self.decoder = nn.Sequential(nn.Linear(latent, dense), nn.ReLU(), nn.Linear(dense, flat),
                                     nn.ReLU(), nn.Unflatten(1, self.features), *up[:-1])

    def forward(self, x):
        mean, log_var = self.head(self.encoder(x)).chunk(2, dim=1)
        return mean, log_var, self.decoder


def loss(model, x):
    mean, log_var, decode = model(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    logits = decode(z)
    rec = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = 0.5 * torch.sum(log_var.exp() + mean ** 2 - 1.0 - log_var) / len(x)
    return rec + kl


def main():
    kind, path, batch, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(0)
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else torch.get_num_threads())
    x = torch.from_numpy(np.load(path)).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    model = DenseVAE(x[0].numel()) if kind == "dense" else ConvVAE(tuple(x.shape[1:]))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            optimizer.zero_grad(set_to_none=True)
            loss(model, x[order[i:i + batch]]).backward()
            optimizer.step()
        rates.append(len(x) / (time.perf_counter() - start))
    print(json.dumps({"samples_per_second": rates}))


if __name__ == "__main__":
    main()
