"""Gaussian samplers of codes: the standard normal prior and the ex-post Gaussian mixture."""

import keras
import numpy as np
import tensorflow as tf
from sklearn.mixture import GaussianMixture

from ae_zoo import _random
from ae_zoo.samplers.base import Sampler, positive_int

COVARIANCE_TYPES = ("full", "diag")


@keras.saving.register_keras_serializable(package="ae_zoo")
class NormalSampler(Sampler):
    """z ~ N(0, I): the prior of the VAE family, for any model with continuous codes.
    Fitting reads only the code size. For a model without a prior (an autoencoder) it
    decodes what the AE-versus-VAE comparison decodes."""

    sampler_name = "normal"

    def fit_state(self, data, seed, verbose):
        return None

    def sample_codes(self, seeds):
        """z_i ~ N(0, I) from seed i (the same draws as a VAE's prior)."""
        return _random.normal_per_seed(seeds, self.space["shape"][0])


@keras.saving.register_keras_serializable(package="ae_zoo")
class GaussianMixtureSampler(Sampler):
    """A Gaussian mixture fitted to the training codes with scikit-learn, then sampled:
    the ex-post density estimation of Ghosh et al. (2020), which gives a deterministic
    autoencoder samples from where its codes actually lie (not from N(0, I), whose draws
    fall in the gaps between them).

    p(z) = sum_k pi_k N(z; mu_k, Sigma_k). A draw from seed s picks component k with
    u ~ U[0, 1) from the stream (s, 1) (the first k with cumsum(pi)_k > u), and returns
    mu_k + L_k eps, eps ~ N(0, I) from the stream (s, 0), L_k the Cholesky factor of
    Sigma_k. The weights, means and factors are non-trainable variables.

    Args:
        n_components: K (Ghosh et al.: 10 on MNIST).
        covariance_type: ``"full"`` or ``"diag"``.
        max_iter, reg_covar, n_init: scikit-learn's EM settings.
    """

    sampler_name = "gmm"

    def __init__(self, n_components=10, covariance_type="full", max_iter=200, reg_covar=1e-6,
                 n_init=1, **kwargs):
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"`covariance_type` must be 'full' or 'diag', got {covariance_type!r}.")
        self.n_components = positive_int("n_components", n_components)
        self.covariance_type = covariance_type
        self.max_iter, self.reg_covar, self.n_init = int(max_iter), float(reg_covar), int(n_init)
        self.mixture = None  # the fitted scikit-learn estimator (not saved)
        super().__init__(**kwargs)

    def create_state(self, space):
        k, d = self.n_components, space["shape"][0]
        self.mixture_weights = self.add_weight(shape=(k,), initializer="ones", trainable=False,
                                               name="mixture_weights")
        self.means = self.add_weight(shape=(k, d), initializer="zeros", trainable=False,
                                     name="means")
        self.scale_tril = self.add_weight(shape=(k, d, d), initializer="zeros", trainable=False,
                                          name="scale_tril")

    def fit_state(self, data, seed, verbose):
        if len(data) < self.n_components:
            raise ValueError(f"A mixture of {self.n_components} components needs at least as "
                             f"many examples; got {len(data)}.")
        mixture = GaussianMixture(self.n_components, covariance_type=self.covariance_type,
                                  max_iter=self.max_iter, reg_covar=self.reg_covar,
                                  n_init=self.n_init, random_state=seed)
        mixture.fit(np.asarray(data, np.float64))
        covariances = mixture.covariances_
        if self.covariance_type == "diag":
            covariances = np.stack([np.diag(c) for c in covariances])
        self.mixture_weights.assign(mixture.weights_.astype("float32"))
        self.means.assign(mixture.means_.astype("float32"))
        self.scale_tril.assign(np.linalg.cholesky(covariances).astype("float32"))
        self.mixture = mixture
        if verbose:
            print(f"  gmm: {self.n_components} components, mean log-likelihood "
                  f"{mixture.score(data):.3f} per code")

    def sample_codes(self, seeds):
        d = self.space["shape"][0]
        u = _random.per_seed(seeds, (), kind="uniform", stream=1)
        eps = _random.per_seed(seeds, (d,), kind="normal", stream=0)
        edges = tf.cumsum(tf.convert_to_tensor(self.mixture_weights))
        k = tf.minimum(tf.searchsorted(edges, u, side="right"), self.n_components - 1)
        scale = tf.gather(tf.convert_to_tensor(self.scale_tril), k)
        return tf.gather(tf.convert_to_tensor(self.means), k) + tf.linalg.matvec(scale, eps)

    def get_config(self):
        return {**super().get_config(), "n_components": self.n_components,
                "covariance_type": self.covariance_type, "max_iter": self.max_iter,
                "reg_covar": self.reg_covar, "n_init": self.n_init}
