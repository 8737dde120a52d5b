"""The sampler contract: a Keras layer fitted to a model's codes, which draws new codes
for its decoder statelessly, one per seed.

``sampler.fit(model, x)`` asks the model what to model (``model.sampling_space()``: codes
of ``latent_dim`` values, or a grid of codebook indices) and for the data
(``model.sampler_targets(x)``), creates its variables for that space, fits them, and
attaches itself to the model (``model.attach_sampler``). What it fitted lives in
non-trainable variables, and the space in its config, so the sampler saves and loads with
the model in ``.keras`` files. ``sample_codes(seeds)`` is the stateless draw (int64 seeds
in, one draw per seed, no seed generator or stateful op: it goes into the exported
``sample`` signature); ``sample(n, seed=s)`` decodes draws ``s, ..., s + n - 1`` into
images, as ``model.sample`` does once the sampler is attached.
"""

import keras
import numpy as np
import tensorflow as tf

from ae_zoo import _random
from ae_zoo.models import _checks
from ae_zoo.optimizers import FusedAdam


def _space(space):
    """A sampling space as plain JSON-able values: kind, shape (a list) and K if discrete."""
    out = {"kind": str(space["kind"]), "shape": [int(d) for d in space["shape"]]}
    if space.get("num_embeddings") is not None:
        out["num_embeddings"] = int(space["num_embeddings"])
    return out


@keras.saving.register_keras_serializable(package="ae_zoo")
class Sampler(keras.layers.Layer):
    """Base class of the samplers (see the module). A sampler states the kind of space it
    models (``space_kind``: ``"continuous"`` codes or ``"discrete"`` index grids) and
    implements ``create_state(space)`` (its variables), ``fit_state(data, seed, verbose)``
    and ``sample_codes(seeds)``."""

    #: The kind of sampling space the sampler models.
    space_kind = "continuous"
    #: Its name in :mod:`ae_zoo.samplers` (``create(name)``, recipes, the CLI).
    sampler_name = None

    def __init__(self, space=None, **kwargs):
        kwargs.setdefault("dtype", "float32")  # fitted parameters stay float32
        super().__init__(**kwargs)
        self.space = None
        self._bound = None  # the model it draws for (models.base hides it from Keras)
        if space is not None:
            self._create(_space(space))

    # -------------------------------------------------------------- state
    @property
    def fitted(self):
        """Whether the sampler has been fitted (or loaded fitted)."""
        return self.space is not None

    def _create(self, space):
        self.space = space
        self.create_state(space)
        self._set_trainable(False)  # what it fitted never trains with the model
        self.built = True

    def _set_trainable(self, value):
        # The setter itself: TensorFlow's attribute tracking skips `layer.trainable = v` when
        # the layer's own flag is already v, even if its new sublayers' are not.
        keras.layers.Layer.trainable.fset(self, value)

    def create_state(self, space):
        """Creates the variables (and networks) for ``space``."""

    def fit_state(self, data, seed, verbose):
        """Fits the variables to ``data`` (numpy: codes (n, d), or index grids (n, h, w))."""
        raise NotImplementedError

    def sample_codes(self, seeds):
        """One draw per int64 seed, stateless and traceable: codes (n, d) for a continuous
        space, index grids (n, h, w) for a discrete one."""
        raise NotImplementedError

    # -------------------------------------------------------------- fitting
    def check_model(self, model):
        """Raises if this sampler cannot draw for ``model`` (another kind of space, another
        shape, or not fitted)."""
        space = _space(model.sampling_space())
        if space["kind"] != self.space_kind:
            raise ValueError(
                f"{type(self).__name__} models {self.space_kind} codes, but "
                f"{type(model).__name__}'s are {space['kind']} (latent_kind "
                f"{model.latent_kind!r}); pick a sampler for them (ae_zoo.samplers.names()).")
        if self.fitted and self.space != space:
            raise ValueError(f"{type(self).__name__} was fitted to a space {self.space}, but the "
                             f"model's is {space}: fit a new sampler to it.")

    def fit(self, model, x, *, seed=0, batch_size=256, verbose=0):
        """Fits the sampler to ``model``'s codes of the images ``x`` and attaches it to the
        model (its ``sample`` then draws from this sampler); returns the sampler."""
        if not self.fitted and model.conditional:
            raise TypeError(f"{type(model).__name__} is conditional: samplers model "
                            "unconditional codes.")
        self.check_model(model)
        x = np.asarray(x, "float32")
        model.check_inputs(x)
        data = model.sampler_targets(x, batch_size=batch_size)
        if not self.fitted:
            self._create(_space(model.sampling_space()))
        self._set_trainable(True)
        try:
            self.fit_state(data, int(seed), verbose)
        finally:
            self._set_trainable(False)
        model.attach_sampler(self)
        return self

    def bind(self, holder):
        """Called by ``model.attach_sampler``: the model this sampler draws for."""
        self._bound = holder

    def bound_model(self):
        """The model this sampler draws for (a method, not a property: Keras' saving walks
        a layer's attributes, and must not walk back into the model)."""
        if self._bound is None:
            raise ValueError(f"{type(self).__name__} draws for no model: fit it to one first.")
        return self._bound.value

    def sample(self, num_samples, seed=None):
        """``num_samples`` images: the model decodes draw ``i`` from seed ``seed + i``."""
        model = self.bound_model()
        num_samples = _checks.check_count(num_samples, "num_samples")
        seeds = _random.seed_range(num_samples, _checks.check_seed(seed))
        return model.decode(model.codes_from_sampler(self.sample_codes(seeds)))

    def get_config(self):
        return {**super().get_config(), "space": self.space and _space(self.space)}


def positive_int(name, value):
    """``value`` as an int, or a ValueError naming ``name``."""
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def checked_fit(epochs, batch_size, learning_rate):
    """``(epochs, batch_size, learning_rate)`` of a sampler's Adam fit, checked."""
    if not float(learning_rate) > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate!r}.")
    return positive_int("epochs", epochs), positive_int("batch_size", batch_size), float(learning_rate)


def standardize(data):
    """``(mean, std)`` of the columns of ``data`` (n, d); a constant column gets std 1."""
    data = np.asarray(data, np.float64)
    std = data.std(axis=0)
    return data.mean(axis=0).astype("float32"), np.where(std > 0, std, 1.0).astype("float32")


def train_network(loss_fn, weights, data, *, epochs, batch_size, learning_rate, seed, verbose=0,
                  what="sampler"):
    """Minimizes the batch mean ``loss_fn(batch, noise_seed)`` over ``weights`` with Adam
    for ``epochs`` passes over ``data`` (numpy, shuffled with ``seed``; ``noise_seed`` is
    a stateless seed [seed, step] for any noise the loss draws); returns each epoch's mean
    loss. The fit of a sampler's networks: their optimizer is not kept."""
    optimizer = FusedAdam(learning_rate)
    optimizer.build(weights)

    @tf.function(reduce_retracing=True, autograph=False)  # plain TensorFlow ops: no conversion
    def step(batch, noise_seed):
        with tf.GradientTape() as tape:
            loss = loss_fn(batch, noise_seed)
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    rng = np.random.default_rng(seed)
    history, n, count = [], len(data), 0
    for epoch in range(int(epochs)):
        order = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch_size):
            part = order[i:i + batch_size]
            count += 1
            loss = step(tf.constant(data[part]), tf.constant([seed, count], tf.int32))
            total += float(loss) * len(part)
        history.append(total / n)
        if verbose:
            print(f"  {what} epoch {epoch + 1}/{epochs}: loss {history[-1]:.4f}")
    return history
