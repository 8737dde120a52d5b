"""A gated PixelCNN prior over a VQ-VAE's grid of code indices (van den Oord et al.
2016, "Conditional image generation with PixelCNN decoders"; used as the VQ-VAE's prior by
van den Oord et al. 2017)."""

import keras
import tensorflow as tf
from keras import ops

from ae_zoo import _random
from ae_zoo.layers import GatedActivation, MaskedConv2D
from ae_zoo.samplers.base import Sampler, checked_fit, positive_int, train_network


def build_gated_pixelcnn(grid, num_embeddings, filters=64, num_layers=5, kernel_size=3,
                         name="pixelcnn"):
    """The gated PixelCNN: one-hot codes (h, w, K) -> logits (h, w, K), the logits at
    position i (raster order) a function of the codes at positions < i only.

    Each gated layer has a vertical stack (masked k x k convolutions over the rows above,
    ``vertical_a`` in the first layer, then ``vertical_b``) and a horizontal stack (the
    row to the left: ``horizontal_a`` excludes the position itself in the first layer,
    ``horizontal_b`` includes it afterwards); the vertical features feed the horizontal
    stack through a 1x1 convolution, both pass tanh(a) * sigmoid(b), and the horizontal
    stack is residual after the first layer. Two 1x1 convolutions give the logits.
    """
    h, w = (int(v) for v in grid)
    inputs = keras.Input((h, w, int(num_embeddings)), name="one_hot")
    vertical = horizontal = inputs
    for i in range(int(num_layers)):
        kind = "a" if i == 0 else "b"
        v = MaskedConv2D(2 * filters, kernel_size, f"vertical_{kind}",
                         name=f"vertical_{i}")(vertical)
        hz = MaskedConv2D(2 * filters, kernel_size, f"horizontal_{kind}",
                          name=f"horizontal_{i}")(horizontal)
        hz = keras.layers.Add(name=f"vertical_to_horizontal_{i}")(
            [hz, keras.layers.Conv2D(2 * filters, 1, name=f"link_{i}")(v)])
        vertical = GatedActivation(name=f"vertical_gate_{i}")(v)
        out = keras.layers.Conv2D(filters, 1, name=f"horizontal_out_{i}")(
            GatedActivation(name=f"horizontal_gate_{i}")(hz))
        horizontal = out if i == 0 else keras.layers.Add(name=f"residual_{i}")([horizontal, out])
    t = keras.layers.Conv2D(filters, 1, activation="relu", name="head")(
        keras.layers.Activation("relu", name="head_relu")(horizontal))
    logits = keras.layers.Conv2D(int(num_embeddings), 1, name="logits")(t)
    return keras.Model(inputs, logits, name=name)


@keras.saving.register_keras_serializable(package="ae_zoo")
class PixelCNNSampler(Sampler):
    """A gated PixelCNN (:func:`build_gated_pixelcnn`) fitted to the grids of code indices of
    a model with discrete codes (the VQ-VAE), as the VQ-VAE paper fits its prior: it
    minimizes the cross-entropy -sum_i log p(k_i | k_<i) (reported in nats per position).

    A draw fills the grid in raster order, one network pass per position: position i takes
    argmax_k (logit_ik / temperature + g_ik) (the Gumbel-max trick: a draw from the
    softmax), g = -log(-log u), u ~ U[0, 1) of shape (positions, K) from the stream (s, 2)
    of seed s. Stateless and a ``tf.while_loop``: the exported ``sample`` signature runs it.

    Args:
        filters, num_layers, kernel_size: the network's width, gated layers, kernel size.
        temperature: divides the logits when sampling (1: the fitted distribution).
        epochs, batch_size, learning_rate: the Adam fit.
    """

    space_kind = "discrete"
    sampler_name = "pixelcnn"

    def __init__(self, filters=64, num_layers=5, kernel_size=3, temperature=1.0, epochs=40,
                 batch_size=128, learning_rate=1e-3, **kwargs):
        self.epochs, self.batch_size, self.learning_rate = checked_fit(epochs, batch_size,
                                                                       learning_rate)
        self.filters = positive_int("filters", filters)
        self.num_layers = positive_int("num_layers", num_layers)
        if positive_int("kernel_size", kernel_size) % 2 == 0:
            raise ValueError(f"`kernel_size` must be an odd positive integer, got {kernel_size!r}.")
        if not float(temperature) > 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        self.kernel_size, self.temperature = int(kernel_size), float(temperature)
        super().__init__(**kwargs)

    def create_state(self, space):
        self.network = build_gated_pixelcnn(space["shape"], space["num_embeddings"], self.filters,
                                            self.num_layers, self.kernel_size)

    def logits(self, grids):
        """The network's logits (n, h, w, K) for index grids (n, h, w)."""
        return self.network(ops.one_hot(ops.cast(grids, "int32"), self.space["num_embeddings"]))

    def loss(self, grids, noise_seed):
        """Mean cross-entropy per position, nats."""
        return ops.mean(keras.losses.sparse_categorical_crossentropy(
            grids, self.logits(grids), from_logits=True))

    def fit_state(self, data, seed, verbose):
        self.history = train_network(self.loss, self.trainable_weights, data.astype("int32"),
                                     epochs=self.epochs, batch_size=self.batch_size,
                                     learning_rate=self.learning_rate, seed=seed,
                                     verbose=verbose, what="pixelcnn")

    def sample_codes(self, seeds):
        h, w = self.space["shape"]
        positions, k = h * w, self.space["num_embeddings"]
        u = _random.per_seed(seeds, (positions, k), kind="uniform", stream=2)
        gumbel = -tf.math.log(-tf.math.log(tf.clip_by_value(u, 1e-12, 1.0 - 1e-7)))
        count = tf.shape(gumbel)[0]
        index = tf.range(positions)[None, :]

        def fill(p, flat):
            logits = tf.reshape(self.logits(tf.reshape(flat, (count, h, w))), (count, positions, k))
            scores = tf.gather(logits, p, axis=1) / self.temperature + tf.gather(gumbel, p, axis=1)
            choice = tf.argmax(scores, axis=-1, output_type=tf.int32)
            return p + 1, tf.where(index == p, choice[:, None], flat)

        _, flat = tf.while_loop(lambda p, _: p < positions, fill,
                                (tf.constant(0), tf.zeros((count, positions), tf.int32)))
        return tf.reshape(flat, (count, h, w))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "num_layers": self.num_layers,
                "kernel_size": self.kernel_size, "temperature": self.temperature,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate}
