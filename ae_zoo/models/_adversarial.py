"""Training with a discriminator that has its own optimizer: FactorVAE, the adversarial
autoencoder and VAE-GAN share it.

The model's optimizer updates every weight but the discriminator's; the discriminator's
optimizer updates the discriminator alone. ``train_step`` runs the objective once and then
each optimizer's step on its own losses (:meth:`AdversarialTraining.updates`): one
``apply_gradients`` per optimizer, so each optimizer's ``iterations`` counts the model's
steps. The discriminator optimizer's state is an attribute of the model and is saved in
``.keras`` files with the rest.
"""

import keras
import tensorflow as tf
from keras import ops


def build_discriminator(input_shape, units, name="discriminator", features=False):
    """MLP ``input -> logit``: (Flatten,) then Dense(u) + LeakyReLU(0.2) per entry of
    ``units``, then Dense(1). ``input_shape``: an int (a code's width) or an image shape.
    With ``features`` the model returns ``[last hidden layer, logit]`` (both float32)."""
    shape = (int(input_shape),) if isinstance(input_shape, int) else tuple(input_shape)
    layers = [keras.Input(shape=shape, name="z" if len(shape) == 1 else "x")]
    if len(shape) > 1:
        layers.append(keras.layers.Flatten(name="flatten"))
    for i, u in enumerate(units):
        layers += [keras.layers.Dense(int(u), name=f"dense_{i}"),
                   keras.layers.LeakyReLU(negative_slope=0.2, name=f"leaky_relu_{i}")]
    head = [keras.layers.Dense(1, name="logit"),
            keras.layers.Activation("linear", dtype="float32", name="logit_float32")]
    if not features:
        return keras.Sequential(layers + head, name=name)
    h = layers[0]
    for layer in layers[1:]:
        h = layer(h)
    logit = head[1](head[0](h))
    h = keras.layers.Activation("linear", dtype="float32", name="features_float32")(h)
    return keras.Model(layers[0], [h, logit], name=name)


def binary_scores(real_logits, fake_logits):
    """``(loss, accuracy)`` of a discriminator on a batch of ``real_logits`` (label 1) and
    each batch of ``fake_logits`` (label 0): the binary cross-entropy averaged over the
    groups, -(mean log D(real) + sum_f mean log(1 - D(fake_f))) / (1 + F), and the fraction
    of examples it classifies right, averaged over the groups alike."""
    loss = ops.mean(ops.softplus(-real_logits))
    right = ops.mean(ops.cast(real_logits > 0, "float32"))
    for fake in fake_logits:
        loss = loss + ops.mean(ops.softplus(fake))
        right = right + ops.mean(ops.cast(fake < 0, "float32"))
    groups = 1.0 + len(fake_logits)
    return loss / groups, right / groups


def descend(tape, optimizer, parts):
    """One ``apply_gradients`` of ``optimizer``: each ``(loss, weights)`` of ``parts``
    differentiated on ``tape`` with respect to its own weights."""
    grads, weights = [], []
    for loss, part in parts:
        grads += tape.gradient(loss, part)
        weights += list(part)
    optimizer.apply_gradients(zip(grads, weights))


def check_discriminator(units, learning_rate):
    """``(units, learning_rate)`` of a discriminator, checked: positive integers, > 0."""
    units = tuple(units)
    for u in units:
        if isinstance(u, bool) or int(u) != u or int(u) < 1:
            raise ValueError(f"`discriminator_units` must be positive integers, got {units!r}.")
    if not float(learning_rate) > 0:
        raise ValueError(f"`discriminator_learning_rate` must be > 0, got {learning_rate!r}.")
    return tuple(int(u) for u in units), float(learning_rate)


class AdversarialTraining:
    """Mixed into a model that has ``self.discriminator``: its own optimizer, the split of
    the weights and a train step that updates both players on each batch."""

    def make_discriminator_optimizer(self, optimizer):
        """Sets ``discriminator_optimizer`` (loss-scaled under mixed_float16), built on the
        discriminator's weights."""
        if self.dtype_policy.name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(self.discriminator.trainable_variables)
        self.discriminator_optimizer = optimizer

    @property
    def optimized_weights(self):
        """The weights the model's optimizer updates: all but the discriminator's."""
        own = {id(w) for w in self.discriminator.trainable_weights}
        return [w for w in self.trainable_weights if id(w) not in own]

    def updates(self, losses):
        """``[(optimizer, [(loss, weights), ...]), ...]``: what each optimizer minimizes on
        which weights. By default the model's optimizer minimizes ``loss`` on
        :attr:`optimized_weights` and the discriminator's ``discriminator_loss`` on D."""
        return [(self.optimizer, [(losses["loss"], self.optimized_weights)]),
                (self.discriminator_optimizer,
                 [(losses["discriminator_loss"], self.discriminator.trainable_weights)])]

    def train_step(self, data):
        x, y = self._unpack(data)
        with tf.GradientTape(persistent=True) as tape:
            losses = self.terms(x, y, training=True)
            plan = [(optimizer, [(self.scale_loss(loss, optimizer=optimizer), weights)
                                 for loss, weights in parts])
                    for optimizer, parts in self.updates(losses)]
        for optimizer, parts in plan:
            descend(tape, optimizer, parts)
        del tape
        return self.track(losses, x)

    def discriminator_step(self, *inputs):
        """One update of the discriminator alone on ``discriminator_loss(*inputs)``;
        returns its ``(loss, accuracy)``: the discriminator half of ``train_step``, to train
        or probe it on given inputs (wrap it in ``tf.function`` for speed)."""
        with tf.GradientTape() as tape:
            loss, accuracy = self.discriminator_loss(*inputs, training=True)
            scaled = self.scale_loss(loss, optimizer=self.discriminator_optimizer)
        descend(tape, self.discriminator_optimizer, [(scaled, self.discriminator.trainable_weights)])
        return loss, accuracy

