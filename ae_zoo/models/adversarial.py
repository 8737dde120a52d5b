"""Autoencoders trained against a discriminator: the adversarial autoencoder (a
discriminator on the codes) and VAE-GAN (a discriminator on the images)."""

import keras
import tensorflow_probability as tfp
from keras import ops

from ae_zoo import _random
from ae_zoo.models import hparams
from ae_zoo.models._adversarial import (
    AdversarialTraining,
    binary_scores,
    build_discriminator,
    check_discriminator,
)
from ae_zoo.models.base import Autoencoder
from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE

tfd = tfp.distributions


def _gan_adam(learning_rate):
    """The discriminators' Adam (beta_1 0.5, beta_2 0.9), as FactorVAE's."""
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.9, name="discriminator_adam")


@register("aae")
class AAE(AdversarialTraining, Autoencoder):
    """Adversarial autoencoder (Makhzani et al. 2016), with a deterministic encoder.

    Minimizes rec + adversarial_weight * E_x[-log D(f(x))] (tracked as
    ``adversarial_loss``), rec the zoo's per-pixel reconstruction error and D a
    discriminator on codes (one logit) trained with its own Adam (lr
    ``discriminator_learning_rate``, beta_1 0.5, beta_2 0.9) to tell prior draws
    z ~ N(0, I) ("real") from the batch's codes ("fake", held fixed): its binary
    cross-entropy is ``discriminator_loss``. Fooling D pulls the aggregate posterior q(z)
    onto the prior, so decoded N(0, I) draws are images: the model is generative. Each
    ``train_step`` updates both players on the same batch (the paper's reconstruction and
    regularization phases in one step); the autoencoder's step reads D but never updates it.

    Args:
        adversarial_weight: the weight of the encoder's adversarial term. Against the
            per-pixel reconstruction error it is small: on mnist5k (dense nets, 30 epochs)
            0.05 let the adversarial game dominate (test MSE 0.052, against 0.018 at
            0.005; benchmarks/generation.py).
        discriminator_units, discriminator_learning_rate: D's hidden layers and its Adam's
            learning rate.
    """

    loss_terms = ("loss", "reconstruction_loss", "adversarial_loss", "discriminator_loss",
                  "discriminator_accuracy")
    auxiliary_terms = ("discriminator_loss", "discriminator_accuracy")
    generative = True
    prior_type = "standard_normal"

    @classmethod
    def search_space(cls, options):
        return {"adversarial_weight": hparams.log_uniform(
            0.001, 1.0, options.get("adversarial_weight", 0.005))}

    def __init__(self, adversarial_weight=0.005, discriminator_units=(256, 256),
                 discriminator_learning_rate=2e-4, **kwargs):
        if not float(adversarial_weight) >= 0:
            raise ValueError(f"`adversarial_weight` must be >= 0, got {adversarial_weight!r}.")
        units, learning_rate = check_discriminator(discriminator_units, discriminator_learning_rate)
        super().__init__(**kwargs)
        self.adversarial_weight = float(adversarial_weight)
        self.discriminator_units, self.discriminator_learning_rate = units, learning_rate
        self.discriminator = build_discriminator(self.latent_dim, units)
        self.make_discriminator_optimizer(_gan_adam(learning_rate))

    def discriminator_loss(self, z, training=False):
        """``(loss, accuracy)`` of D on prior draws (real) against the codes ``z`` (fake,
        held fixed): loss = -(mean log D(z') + mean log(1 - D(z))) / 2, z' ~ N(0, I)."""
        z = ops.stop_gradient(ops.cast(z, "float32"))
        prior = _random.normal(ops.shape(z), self.seed_generator)
        return binary_scores(self.discriminator(prior, training=training)[:, 0],
                             [self.discriminator(z, training=training)[:, 0]])

    def objective(self, x, y=None, *, labels=None, training=False):
        code, logits = self.forward(x, training, self.condition(labels))
        rec = self.reconstruction_loss_value(self.reconstruction_target(x, y), logits)
        adversarial = ops.mean(ops.softplus(-self.discriminator(code, training=training)[:, 0]))
        d_loss, d_accuracy = self.discriminator_loss(code, training)
        return {"loss": rec + self.adversarial_weight * adversarial, "reconstruction_loss": rec,
                "adversarial_loss": adversarial, "discriminator_loss": d_loss,
                "discriminator_accuracy": d_accuracy}

    def sample_codes(self, seeds, *, labels=None):
        """z_i ~ N(0, I) from the stateless seed ``seeds[i]``."""
        return _random.normal_per_seed(seeds, self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "adversarial_weight": self.adversarial_weight,
                "discriminator_units": self.discriminator_units,
                "discriminator_learning_rate": self.discriminator_learning_rate}


@register("vae_gan")
class VAEGAN(AdversarialTraining, VAE):
    """VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned
    similarity metric"): a VAE whose reconstruction is measured in the feature space of
    a GAN discriminator Dis on images (Dis_l: its last hidden layer). Three losses:

        L_prior = KL(q(z|x) || N(0, I))
        L_llike = -log N(Dis_l(x); Dis_l(x~), I) = 1/2 ||Dis_l(x) - Dis_l(x~)||^2 (+ const),
                  x~ = Dec(z), z ~ q(z|x)
        L_GAN   = log Dis(x) + log(1 - Dis(x~)) + log(1 - Dis(Dec(z_p))),  z_p ~ N(0, I)

    and, as the paper sets them, the encoder minimizes L_prior + L_llike (tracked as
    ``loss``; ``reconstruction_loss`` is L_llike), the decoder gamma * L_llike - L_GAN,
    its GAN part in the non-saturating form -log Dis(x~) - log Dis(Dec(z_p)) (tracked as
    ``decoder_loss``), both with the model's optimizer (one step on both gradient sets);
    Dis maximizes L_GAN with its own optimizer, RMSprop as in the paper (tracked:
    ``discriminator_loss``, its binary cross-entropy averaged over the three groups, and
    ``discriminator_accuracy``). The paper trains all three networks with RMSprop at 3e-4
    (``recipes/vae_gan_mnist5k.yaml``); Dis's default rate here, 3e-5, keeps the feature
    space that L_llike is measured in from running away from a faster autoencoder (the
    default Adam(1e-3)): as Dis learns, its features of real and decoded images part. The
    decoder outputs Bernoulli logits, and Dis sees their mean images. It has no pixel
    likelihood (no ELBO or -log p(x)); its prior N(0, I) makes it generative. Dis is an
    MLP on the flattened image, for any architecture of the autoencoder.

    Args:
        gamma: the weight of L_llike in the decoder's loss (reconstruction against
            fooling Dis).
        discriminator_units: Dis's hidden layers (the last one is Dis_l).
        discriminator_learning_rate: Dis's RMSprop learning rate (the paper: 3e-4).
    """

    loss_terms = ("loss", "reconstruction_loss", "kl", "decoder_loss", "discriminator_loss",
                  "discriminator_accuracy")
    auxiliary_terms = ("decoder_loss", "discriminator_loss", "discriminator_accuracy")
    has_likelihood = False
    maximized_terms = ()
    tuning_objective = "val_loss"
    beta_is_kl_weight = False
    excluded_arguments = VAE.excluded_arguments + ("beta", "likelihood", "scale")
    reconstruction_definition = ("1/2 the squared distance of the discriminator's last hidden "
                                 "features of x and of its reconstruction, z ~ q(z|x) (one draw)")

    @classmethod
    def search_space(cls, options):
        return {"gamma": hparams.log_uniform(0.1, 10.0, options.get("gamma", 1.0))}

    def __init__(self, gamma=1.0, discriminator_units=(512, 256), discriminator_learning_rate=3e-5,
                 **kwargs):
        for key in ("beta", "likelihood", "scale"):
            if key in kwargs:
                raise TypeError(f"VAEGAN has no `{key}`: its decoder is Bernoulli, its KL unweighted.")
        if not float(gamma) >= 0:
            raise ValueError(f"`gamma` must be >= 0, got {gamma!r}.")
        units, learning_rate = check_discriminator(discriminator_units, discriminator_learning_rate)
        super().__init__(**kwargs)
        self.gamma = float(gamma)
        self.discriminator_units, self.discriminator_learning_rate = units, learning_rate
        self.discriminator = None
        if self._input_shape is not None:
            self._make_discriminator()

    def _make_discriminator(self):
        self.discriminator = build_discriminator(self._input_shape, self.discriminator_units,
                                                 features=True)
        self.make_discriminator_optimizer(keras.optimizers.RMSprop(
            self.discriminator_learning_rate, name="discriminator_rmsprop"))

    def build(self, input_shape):
        super().build(input_shape)
        if self.discriminator is None:
            self._make_discriminator()

    def discriminator_loss(self, x, *fakes, training=False):
        """``(loss, accuracy)`` of Dis on images ``x`` (real) against each batch of
        ``fakes``: -(mean log Dis(x) + sum_f mean log(1 - Dis(f))) / (1 + F)."""
        real = self.discriminator(x, training=training)[1][:, 0]
        return binary_scores(real, [self.discriminator(f, training=training)[1][:, 0]
                                    for f in fakes])

    def objective(self, x, y=None, *, labels=None, training=False):
        condition = self.condition(labels)
        mean, log_var, side = self.posterior_params(x, training, condition)
        scale = ops.exp(0.5 * log_var)
        kl = ops.mean(tfd.kl_divergence(tfd.MultivariateNormalDiag(mean, scale), self.prior()))
        z = mean + scale * _random.normal(ops.shape(mean), self.seed_generator)
        prior = _random.normal(ops.shape(mean), self.seed_generator)
        images = [self.output_mean(self._decoder_logits(self.decoder_input(code, condition), s,
                                                        training))
                  for code, s in ((z, side), (prior, None))]
        target = ops.cast(self.reconstruction_target(x, y), "float32")
        (real_features, real), (features, fake), (_, fake_prior) = (
            self.discriminator(t, training=training) for t in (target, *images))
        rec = ops.mean(0.5 * ops.sum(ops.square(real_features - features), axis=-1))
        fooling = ops.mean(ops.softplus(-fake[:, 0])) + ops.mean(ops.softplus(-fake_prior[:, 0]))
        d_loss, d_accuracy = binary_scores(real[:, 0], [fake[:, 0], fake_prior[:, 0]])
        return {"loss": kl + rec, "reconstruction_loss": rec, "kl": kl,
                "decoder_loss": self.gamma * rec + fooling, "discriminator_loss": d_loss,
                "discriminator_accuracy": d_accuracy}

    def updates(self, losses):
        """The encoder on ``loss``, the decoder on ``decoder_loss`` (one step of the model's
        optimizer), Dis on ``discriminator_loss`` (its own)."""
        return [(self.optimizer, [(losses["loss"], self.encoder.trainable_weights),
                                  (losses["decoder_loss"], self.decoder.trainable_weights)]),
                (self.discriminator_optimizer,
                 [(losses["discriminator_loss"], self.discriminator.trainable_weights)])]

    def log_likelihood(self, x, *, labels=None, num_samples=50, batch_size=64, seed=0):
        raise TypeError("VAEGAN has no pixel likelihood (has_likelihood is False): its "
                        "reconstruction is measured in the discriminator's features.")

    def get_config(self):
        config = super().get_config()
        for key in ("beta", "likelihood", "scale"):
            config.pop(key)
        return {**config, "gamma": self.gamma, "discriminator_units": self.discriminator_units,
                "discriminator_learning_rate": self.discriminator_learning_rate}
