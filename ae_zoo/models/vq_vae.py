"""VQ-VAE: an autoencoder with discrete codes (van den Oord et al. 2017, "Neural discrete
representation learning")."""

import math

import numpy as np
from keras import ops

from ae_zoo.layers import VectorQuantizer
from ae_zoo.models import hparams
from ae_zoo.models.base import Autoencoder, reconstruction_error
from ae_zoo.models.registry import register


def square_grid(positions):
    """The most square (h, w) with h * w = ``positions``, h <= w."""
    h = max(d for d in range(1, math.isqrt(positions) + 1) if positions % d == 0)
    return h, positions // h


def perplexity(indices, num_embeddings):
    """exp(-sum_k p_k log p_k), p_k the share of ``indices`` equal to k: K when the K
    codewords are used equally, 1 when one is."""
    usage = ops.mean(ops.one_hot(ops.reshape(indices, (-1,)), num_embeddings, dtype="float32"),
                     axis=0)
    return ops.exp(-ops.sum(usage * ops.log(usage + 1e-10)))


@register("vq_vae")
class VQVAE(Autoencoder):
    """VQ-VAE (van den Oord et al. 2017).

    The encoder's output z_e (``latent_dim`` values) is read as P = latent_dim /
    embedding_dim vectors of size D = ``embedding_dim``; each is replaced by the nearest of
    K = ``num_embeddings`` codewords (:class:`~ae_zoo.layers.VectorQuantizer`), and the
    decoder reads the result z_q. Minimizes

        -log p(x|z_q) + ||sg[z_e] - z_q||^2 + commitment * ||z_e - sg[z_q]||^2

    each term summed over the example's pixels or code elements, as the paper writes them,
    and averaged over the batch (``reconstruction_loss``: -log Bernoulli(x | logits), the
    BCE summed over pixels, or the summed squared error for ``"mse"``; ``codebook_loss``,
    ``commitment_loss``). The decoder's gradient reaches the encoder unchanged (the
    straight-through estimator, z_e + sg[z_q - z_e]). With ``ema=True`` the codebook
    follows exponential moving averages of the codes instead (the paper's appendix): the
    codebook loss is then tracked but not minimized. Tracks ``perplexity`` (codebook
    usage in the batch: K when all codewords are used equally).

    Codes are discrete (``latent_kind = "discrete"``): ``encode(x)`` gives z_q (batch,
    latent_dim) and ``encode(x, return_indices=True)`` also the codeword indices (batch,
    P). The P positions form the grid ``code_grid`` (h, w; the most square by default);
    the model has no prior of its own, and ``ae-zoo train`` fits a gated PixelCNN over
    that grid (``default_sampler = "pixelcnn"``), as the paper does.

    Args:
        num_embeddings: K.
        embedding_dim: D; it divides latent_dim.
        commitment: beta, the commitment weight. The paper uses 0.25 and finds 0.1 to 2.0
            alike; the default 1.0 keeps the encoder's outputs near the codebook when a fast
            optimizer moves them (Adam bounds how fast each codeword can follow: with
            Adam(1e-2), 0.25 lets the codes run away from the codebook in a few steps).
        ema, decay: the moving-average codebook update and its decay (paper: 0.99).
        code_grid: (h, w) with h * w = P, the layout a PixelCNN sampler models.
    """

    loss_terms = ("loss", "reconstruction_loss", "codebook_loss", "commitment_loss", "perplexity")
    auxiliary_terms = ("perplexity",)
    tuning_objective = "val_reconstruction_loss"
    latent_kind = "discrete"
    default_sampler = "pixelcnn"

    @classmethod
    def search_space(cls, options):
        return {"commitment": hparams.log_uniform(0.1, 2.0, options.get("commitment", 1.0)),
                "num_embeddings": hparams.grid([32, 64, 128, 256],
                                               options.get("num_embeddings", 64))}

    def __init__(self, num_embeddings=64, embedding_dim=2, commitment=1.0, ema=False,
                 decay=0.99, code_grid=None, **kwargs):
        if not float(commitment) >= 0:
            raise ValueError(f"`commitment` must be >= 0, got {commitment!r}.")
        super().__init__(**kwargs)
        self.quantizer = VectorQuantizer(num_embeddings, embedding_dim, ema=ema, decay=decay,
                                         name="quantizer", dtype="float32")
        self.quantizer.build()
        if self.latent_dim % self.quantizer.embedding_dim:
            raise ValueError(f"`embedding_dim` ({embedding_dim}) must divide latent_dim "
                             f"({self.latent_dim}): the code is latent_dim / embedding_dim vectors.")
        positions = self.latent_dim // self.quantizer.embedding_dim
        grid = square_grid(positions) if code_grid is None else tuple(int(v) for v in code_grid)
        if len(grid) != 2 or min(grid) < 1 or grid[0] * grid[1] != positions:
            raise ValueError(f"`code_grid` must be (h, w) with h * w = {positions} code "
                             f"positions, got {code_grid!r}.")
        self.code_grid = grid
        self.commitment = float(commitment)

    @property
    def num_embeddings(self):
        return self.quantizer.num_embeddings

    @property
    def embedding_dim(self):
        return self.quantizer.embedding_dim

    @property
    def reconstruction_definition(self):
        what = ("-log p(x|z_q), Bernoulli on logits" if self.reconstruction_loss == "bce"
                else "squared error")
        return f"{what}, summed over pixels"

    # ------------------------------------------------------------ quantization
    def _vectors(self, z_e):
        return ops.reshape(ops.cast(z_e, "float32"), (-1, int(np.prod(self.code_grid)),
                                                      self.embedding_dim))

    def quantize_batch(self, x, condition=None, training=False):
        """``(z_e, z_q, indices, side)`` for a batch: z_e and z_q (batch, P, D), indices
        (batch, P)."""
        z_e, side = self._encoder_head(x, training, condition)
        z_e = self._vectors(z_e)
        z_q, indices = self.quantizer(z_e, training=training)
        return z_e, z_q, indices, side

    def discrete_codes(self, x, condition=None, training=False):
        _, z_q, indices, _ = self.quantize_batch(x, condition, training)
        return ops.reshape(z_q, (-1, self.latent_dim)), indices

    def codes(self, x, condition=None, training=False, return_distribution=False):
        """The quantized codes z_q (batch, latent_dim) of a batch."""
        if return_distribution:
            return super().codes(x, condition, training, return_distribution)
        return self.discrete_codes(x, condition, training)[0]

    def _pass(self, x, condition=None, training=False):
        """``(z_e, z_q, indices, decoder outputs)``: the decoder reads z_q, and its gradient
        reaches z_e unchanged (straight-through: z_e + sg[z_q - z_e])."""
        z_e, z_q, indices, side = self.quantize_batch(x, condition, training)
        z = ops.reshape(z_e + ops.stop_gradient(z_q - z_e), (-1, self.latent_dim))
        return z_e, z_q, indices, self._decoder_logits(self.decoder_input(z, condition), side,
                                                        training)

    def forward(self, x, training=False, condition=None):
        _, z_q, _, logits = self._pass(x, condition, training)
        return ops.reshape(z_q, (-1, self.latent_dim)), logits

    def objective(self, x, y=None, *, labels=None, training=False):
        z_e, z_q, indices, logits = self._pass(x, self.condition(labels), training)
        pixels = float(np.prod(logits.shape[1:]))
        target = self.reconstruction_target(x, y)
        rec = ops.mean(reconstruction_error(target, logits, self.reconstruction_loss)) * pixels
        codebook = ops.mean(ops.sum(ops.square(ops.stop_gradient(z_e) - z_q), axis=(1, 2)))
        commitment = ops.mean(ops.sum(ops.square(z_e - ops.stop_gradient(z_q)), axis=(1, 2)))
        loss = rec + self.commitment * commitment + (0.0 if self.quantizer.ema else codebook)
        return {"loss": loss, "reconstruction_loss": rec, "codebook_loss": codebook,
                "commitment_loss": commitment,
                "perplexity": perplexity(indices, self.num_embeddings)}

    # ------------------------------------------------------- samplers and serving
    def sampling_space(self):
        return {"kind": "discrete", "shape": self.code_grid, "num_embeddings": self.num_embeddings}

    def sampler_targets(self, x, batch_size=256):
        """The codeword indices of ``x`` on the code grid: (n, h, w) int32."""
        _, indices = self.encode(x, batch_size=batch_size, return_indices=True)
        return np.asarray(indices, "int32").reshape(-1, *self.code_grid)

    def codes_from_sampler(self, draws):
        """The codes z_q of grids of codeword indices (batch, h, w)."""
        return ops.reshape(self.quantizer.lookup(draws), (-1, self.latent_dim))

    def serving_encode(self, x, condition=None):
        """``code`` (z_q, float32) and ``indices`` (int64, one per code position)."""
        codes, indices = self.discrete_codes(x, condition)
        return {"code": codes, "indices": ops.cast(indices, "int64")}

    def get_config(self):
        return {**super().get_config(), "num_embeddings": self.num_embeddings,
                "embedding_dim": self.embedding_dim, "commitment": self.commitment,
                "ema": self.quantizer.ema, "decay": self.quantizer.decay,
                "code_grid": self.code_grid}
