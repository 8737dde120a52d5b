"""The conditional VAE: class labels condition the encoder and the decoder."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ae_zoo.models import _checks
from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE, _seed_range, prior_draws, tfd


@register("cvae")
@keras.saving.register_keras_serializable(package="ae_zoo")
class ConditionalVAE(VAE):
    """Conditional VAE (Sohn et al. 2015; Kingma et al. 2014, "M2" without the classifier).

    Minimizes -E_q[log p(x|z, y)] + beta * KL(q(z|x, y) || N(0, I)): the
    one-hot label y is concatenated to the encoder's input (tiled over the
    image for convolutional encoders) and to z before the decoder.

    ``fit(x, labels)`` or a dataset of ``(x, labels)`` pairs trains it;
    ``generate(labels, seed)`` draws z from the prior and decodes each under
    its label. Methods that see images also take their labels:
    ``encode(x, labels)``, ``decode(z, labels)``, ``reconstruct(x, labels)``,
    ``model((x, labels))``, ``predict((x, labels))``.
    """

    def __init__(self, num_classes=10, **kwargs):
        if int(num_classes) != num_classes or int(num_classes) < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
        self.num_classes = int(num_classes)  # network_spec() needs it during super().__init__
        super().__init__(**kwargs)

    def network_spec(self):
        return {"code_dim": 2 * self.latent_dim, "latent_dim": self.latent_dim + self.num_classes,
                "condition_dim": self.num_classes}

    def one_hot(self, labels):
        """One-hot float32 encoding of integer labels in [0, num_classes)."""
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        return ops.one_hot(labels, self.num_classes, dtype="float32")

    def decoder_input(self, z, condition=None):
        return ops.concatenate([z, ops.cast(condition, z.dtype)], axis=-1)

    def compute_losses(self, x, y=None, training=False):
        if y is None:
            raise ValueError("ConditionalVAE needs labels: fit(x, labels) or a dataset of (x, labels).")
        terms = self.elbo_terms(x, None, training, condition=self.one_hot(y))
        return self.report(terms, terms["reconstruction"] + self.beta * terms["kl"])

    # ------------------------------------------------------------------ public API
    def call(self, inputs, training=False):
        """The reconstruction of ``(x, labels)`` at the posterior mean."""
        x, labels = inputs
        condition = self.one_hot(labels)
        mean, _, side = self.posterior_params(x, training, condition)
        return self.output_mean(self._decoder_logits(self.decoder_input(mean, condition), side, training))

    def predict_step(self, data):
        x, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if labels is None and isinstance(x, (tuple, list)) and len(x) == 2:
            x, labels = x  # predict((x, labels)) arrives as a 1-tuple
        if labels is None:
            raise ValueError("ConditionalVAE.predict needs (x, labels).")
        return self((x, labels), training=False)

    def encode(self, x, labels, return_distribution=False):
        """The posterior mean of ``x`` given its labels; optionally ``(mean, scale)``."""
        self._check_labels(labels)
        mean, log_var, _ = self.posterior_params(ops.convert_to_tensor(x), False, self.one_hot(labels))
        return (mean, ops.exp(0.5 * log_var)) if return_distribution else mean

    def decode(self, z, labels):
        """The mean image decoded from ``z`` under ``labels``."""
        self._check_labels(labels)
        z = ops.convert_to_tensor(z, "float32")
        return self.output_mean(self._decoder_logits(self.decoder_input(z, self.one_hot(labels))))

    def reconstruct(self, x, labels):
        self._check_labels(labels)
        return self((ops.convert_to_tensor(x), ops.convert_to_tensor(labels)), training=False)

    def generate(self, labels, seed=None):
        """One image per label from z ~ N(0, I); image ``i`` uses the stateless seed ``seed + i``."""
        labels = np.asarray(labels).reshape(-1)
        self._check_labels(labels)
        z = prior_draws(_seed_range(len(labels), seed), self.latent_dim)
        return self.decode(z, labels)

    def sample(self, num_samples, seed=None, labels=None):
        """``num_samples`` images; labels cycle through the classes unless given."""
        if labels is None:
            labels = np.arange(int(num_samples)) % self.num_classes
        return self.generate(labels, seed)

    def log_likelihood(self, x, labels, num_samples=50, batch_size=64, seed=0):
        """Importance-weighted estimate of log p(x | y) per example (Burda et al. 2016)."""
        if int(num_samples) < 1:
            raise ValueError(f"`num_samples` must be >= 1, got {num_samples}.")
        x, labels = np.asarray(x, dtype="float32"), np.asarray(labels)
        self._check_labels(labels)
        out = []
        for i, start in enumerate(range(0, len(x), batch_size)):
            part = slice(start, start + batch_size)
            seed_i = tf.constant([int(seed), i], dtype=tf.int32)
            out.append(self._iwae_batch(tf.constant(x[part]), int(num_samples), seed_i,
                                        condition=self.one_hot(labels[part])).numpy())
        return np.concatenate(out)

    def kl_per_dim(self, x, labels):
        """KL(q(z_j|x, y) || N(0, 1)) per latent dimension j, averaged over ``x``."""
        mean, scale = self.encode(x, labels, return_distribution=True)
        kl = tfd.kl_divergence(tfd.Normal(mean, scale), tfd.Normal(0.0, 1.0))
        return ops.convert_to_numpy(ops.mean(kl, axis=0))

    # ------------------------------------------------------------- validation
    def _check_labels(self, labels, what="labels"):
        """Raises for empty, non-integer or out-of-range labels (concrete values only:
        symbolic tensors, e.g. in an exported graph, are not checked)."""
        if isinstance(labels, tf.Tensor) and not hasattr(labels, "numpy"):
            return
        labels = np.asarray(labels)
        if labels.size == 0:
            raise ValueError(f"`{what}` is empty.")
        if not np.issubdtype(labels.dtype, np.integer):
            if not np.all(np.equal(np.mod(labels, 1), 0)):
                raise TypeError(f"`{what}` must be integer class ids, got dtype {labels.dtype}.")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(
                f"`{what}` must be in [0, {self.num_classes}) for num_classes={self.num_classes}; "
                f"got values in [{labels.min()}, {labels.max()}]."
            )

    def check_inputs(self, x, y=None, what="x"):
        if isinstance(x, tf.data.Dataset):
            if not isinstance(x.element_spec, (tuple, list)) or len(x.element_spec) < 2:
                raise ValueError("ConditionalVAE needs a dataset of (x, labels) pairs.")
            super().check_inputs(x.map(lambda a, *rest: a), what=what)
            labels = x.map(lambda a, b, *rest: b)
            if labels.cardinality() < 0:  # endless or unknown: check what can be checked
                labels = labels.take(1)
            for batch in labels:
                self._check_labels(batch.numpy(), what=f"labels in {what}")
            return
        if isinstance(x, (tuple, list)) and len(x) == 2 and y is None:
            x, y = x
        super().check_inputs(x, what=what)
        if y is None:
            raise ValueError(f"ConditionalVAE needs labels with `{what}`: pass (x, labels).")
        self._check_labels(y, what=f"labels for {what}")
        if len(np.asarray(y).reshape(-1)) != len(_checks._first(x)):
            raise ValueError(f"`{what}` and its labels have different lengths.")

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
