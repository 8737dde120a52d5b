"""Normalizing-flow pieces: the planar and radial bijectors of Rezende and Mohamed (2015),
written as ``tfp.bijectors.Bijector`` subclasses (TFP has neither), and MADE, the masked
autoregressive network of an inverse autoregressive flow step, as a Keras 3 layer (TFP's
``AutoregressiveNetwork`` is a ``tf_keras`` layer, which a Keras 3 model neither trains
nor saves).

Both bijectors keep their parameters in the region where they are invertible: they take
unconstrained values and map them there, so any values a network outputs are valid. Their
parameters may carry batch dimensions that broadcast against z's (one flow per example).
"""

from itertools import pairwise

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

tfb = tfp.bijectors

#: Bisection steps of the planar flow's inverse: the bracket (width 2 |w.u_hat|) shrinks
#: to float32 resolution well before.
_BISECTION_STEPS = 60


class PlanarFlow(tfb.Bijector):
    """f(z) = z + u_hat tanh(w.z + b), log |det df/dz| = log(1 + u_hat.w (1 - tanh^2(w.z + b))).

    Invertible when w.u_hat >= -1: u_hat = u + (m(w.u) - w.u) w / |w|^2 with
    m(a) = -1 + softplus(a) (Rezende and Mohamed 2015, appendix A) makes w.u_hat = m(w.u)
    > -1 for any u, w. The inverse solves the scalar equation
    w.y = a + w.u_hat tanh(a + b) for a = w.z (increasing in a) by bisection.

    Args:
        u, w: (..., D) tensors; b: (...,), broadcasting against z's batch dimensions.
    """

    def __init__(self, u, w, b, validate_args=False, name="planar"):
        parameters = dict(locals())
        with tf.name_scope(name) as scope:
            self._w = tf.convert_to_tensor(w, dtype_hint=tf.float32)
            u = tf.convert_to_tensor(u, dtype=self._w.dtype)
            self._b = tf.convert_to_tensor(b, dtype=self._w.dtype)
            wu = tf.reduce_sum(self._w * u, axis=-1, keepdims=True)
            norm = tf.reduce_sum(tf.square(self._w), axis=-1, keepdims=True) + 1e-8
            self._u_hat = u + (tf.math.softplus(wu) - 1.0 - wu) * self._w / norm
            super().__init__(forward_min_event_ndims=1, validate_args=validate_args,
                             parameters=parameters, name=scope)

    @property
    def u_hat(self):
        """The constrained u actually used (w . u_hat > -1)."""
        return self._u_hat

    def _linear(self, z):
        return tf.reduce_sum(self._w * z, axis=-1) + self._b

    def _forward(self, z):
        return z + self._u_hat * tf.tanh(self._linear(z))[..., None]

    def _forward_log_det_jacobian(self, z):
        slope = 1.0 - tf.square(tf.tanh(self._linear(z)))
        wu_hat = tf.reduce_sum(self._w * self._u_hat, axis=-1)
        return tf.math.log1p(wu_hat * slope)

    def _inverse(self, y):
        wu_hat = tf.reduce_sum(self._w * self._u_hat, axis=-1)
        target = tf.reduce_sum(self._w * y, axis=-1)
        low, high = target - tf.abs(wu_hat), target + tf.abs(wu_hat)
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (low + high)
            above = mid + wu_hat * tf.tanh(mid + self._b) > target
            low, high = tf.where(above, low, mid), tf.where(above, mid, high)
        a = 0.5 * (low + high)
        return y - self._u_hat * tf.tanh(a + self._b)[..., None]


class RadialFlow(tfb.Bijector):
    """f(z) = z + beta h(r) (z - z0), h = 1 / (alpha + r), r = |z - z0|;
    log |det df/dz| = (D - 1) log(1 + beta h) + log(1 + beta h - beta r h^2).

    Invertible when beta >= -alpha (Rezende and Mohamed 2015, appendix A): alpha =
    softplus(alpha_raw) > 0 and beta = -alpha + softplus(beta_raw) > -alpha. The inverse
    is closed-form: r solves r^2 + (alpha + beta - |y - z0|) r - alpha |y - z0| = 0.

    Args:
        z0: (..., D); alpha_raw, beta_raw: (...,), broadcasting against z's batch dimensions.
    """

    def __init__(self, z0, alpha_raw, beta_raw, validate_args=False, name="radial"):
        parameters = dict(locals())
        with tf.name_scope(name) as scope:
            self._z0 = tf.convert_to_tensor(z0, dtype_hint=tf.float32)
            self._alpha = tf.math.softplus(tf.convert_to_tensor(alpha_raw, self._z0.dtype))
            self._beta = -self._alpha + tf.math.softplus(
                tf.convert_to_tensor(beta_raw, self._z0.dtype))
            super().__init__(forward_min_event_ndims=1, validate_args=validate_args,
                             parameters=parameters, name=scope)

    @property
    def alpha(self):
        return self._alpha

    @property
    def beta(self):
        return self._beta

    def _radius(self, diff):
        return tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + 1e-12)

    def _forward(self, z):
        diff = z - self._z0
        h = 1.0 / (self._alpha + self._radius(diff))
        return z + (self._beta * h)[..., None] * diff

    def _forward_log_det_jacobian(self, z):
        diff = z - self._z0
        r = self._radius(diff)
        h = 1.0 / (self._alpha + r)
        dim = tf.cast(tf.shape(z)[-1], z.dtype)
        return ((dim - 1.0) * tf.math.log1p(self._beta * h)
                + tf.math.log1p(self._beta * h - self._beta * r * tf.square(h)))

    def _inverse(self, y):
        diff = y - self._z0
        r_y = self._radius(diff)
        c = self._alpha + self._beta - r_y
        r = 0.5 * (-c + tf.sqrt(tf.square(c) + 4.0 * self._alpha * r_y))
        return self._z0 + diff / (1.0 + self._beta / (self._alpha + r))[..., None]


#: The flows ``make_flow`` builds, with the number of unconstrained parameters each
#: needs for a D-dimensional z.
FLOWS = {"planar": lambda d: 2 * d + 1, "radial": lambda d: d + 2}


def make_flow(kind, params):
    """The ``kind`` bijector from a flat (..., FLOWS[kind](D)) tensor of raw parameters."""
    if kind == "planar":
        d = (params.shape[-1] - 1) // 2
        return PlanarFlow(params[..., :d], params[..., d:2 * d], params[..., 2 * d])
    if kind == "radial":
        d = params.shape[-1] - 2
        return RadialFlow(params[..., :d], params[..., d], params[..., d + 1])
    raise ValueError(f"Unknown flow {kind!r}; expected one of {', '.join(FLOWS)}.")


def identity_parameters(kind, dim, rng):
    """Raw parameters (numpy, FLOWS[kind](dim)) at which the ``kind`` flow is the identity,
    so that a flow can start as one. Planar: u_hat = 0, which the constraint gives for
    u = c w / |w|^2 with softplus(c) = 1, w drawn from ``rng`` (a numpy Generator) and
    b = 0. Radial: beta = 0, which beta_raw = alpha_raw gives."""
    if kind == "planar":
        w = rng.normal(0.0, 1.0 / np.sqrt(dim), dim)
        u = np.log(np.expm1(1.0)) * w / np.sum(w * w)
        return np.concatenate([u, w, [0.0]]).astype("float32")
    if kind == "radial":
        return np.zeros(dim + 2, "float32")
    raise ValueError(f"Unknown flow {kind!r}; expected one of {', '.join(FLOWS)}.")


def made_degrees(event_size, hidden_units):
    """MADE's degrees (Germain et al. 2015): inputs 1..D, hidden units cycling through
    0..D-1 (degree 0: the unit sees only the context), outputs 1..D."""
    return ([np.arange(1, event_size + 1)]
            + [np.arange(units) % event_size for units in hidden_units]
            + [np.arange(1, event_size + 1)])


@keras.saving.register_keras_serializable(package="ae_zoo")
class MADE(keras.layers.Layer):
    """Masked autoregressive network: ``(shift, log_scale)`` (..., D) of z (..., D), output i
    a function of z_1..z_{i-1} and of a context vector only (Germain et al. 2015).

    Masked dense layers with ELU activations (hidden unit j may see input i iff its degree
    >= i; output i may see hidden unit j iff i > its degree); the context enters every
    hidden unit of the first layer. The output layer starts at zero, so an IAF step starts
    as the identity; ``log_scale`` is bounded to +-``max_log_scale`` (a soft clip) so
    that no step scales by more than e^3 early in training.
    """

    def __init__(self, event_size, hidden_units=(128, 128), context_size=0,
                 max_log_scale=3.0, **kwargs):
        super().__init__(**kwargs)
        self.event_size = int(event_size)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.context_size = int(context_size)
        self.max_log_scale = float(max_log_scale)
        if not self.hidden_units:
            raise ValueError("`hidden_units` of MADE must name at least one hidden layer.")
        degrees = made_degrees(self.event_size, self.hidden_units)
        masks = [(d_out[None, :] >= d_in[:, None]) for d_in, d_out in pairwise(degrees[:-1])]
        masks.append(degrees[-1][None, :] > degrees[-2][:, None])
        self._masks = [m.astype("float32") for m in masks]
        sizes = (self.event_size,) + self.hidden_units
        self.kernels, self.biases = [], []
        for i, (n_in, n_out) in enumerate(pairwise(sizes)):
            self.kernels.append(self.add_weight(shape=(n_in, n_out), name=f"kernel_{i}",
                                                initializer="glorot_uniform"))
            self.biases.append(self.add_weight(shape=(n_out,), name=f"bias_{i}", initializer="zeros"))
        self.out_kernel = self.add_weight(shape=(sizes[-1], 2 * self.event_size),
                                          name="out_kernel", initializer="zeros")
        self.out_bias = self.add_weight(shape=(2 * self.event_size,), name="out_bias",
                                        initializer="zeros")
        self.context_kernel = None
        if self.context_size:
            self.context_kernel = self.add_weight(shape=(self.context_size, sizes[1]),
                                                  name="context_kernel", initializer="glorot_uniform")
        self.built = True

    def call(self, z, context=None):
        h = ops.cast(z, self.compute_dtype)
        for i, (kernel, bias, mask) in enumerate(zip(self.kernels, self.biases, self._masks)):
            h = ops.matmul(h, kernel * mask) + bias
            if i == 0 and self.context_kernel is not None:
                h = h + ops.matmul(ops.cast(context, self.compute_dtype), self.context_kernel)
            h = ops.elu(h)
        out_mask = ops.concatenate([self._masks[-1]] * 2, axis=-1)
        out = ops.matmul(h, self.out_kernel * out_mask) + self.out_bias
        shift, raw_scale = ops.split(out, 2, axis=-1)
        return shift, self.max_log_scale * ops.tanh(raw_scale / self.max_log_scale)

    def get_config(self):
        return {**super().get_config(), "event_size": self.event_size,
                "hidden_units": self.hidden_units, "context_size": self.context_size,
                "max_log_scale": self.max_log_scale}
