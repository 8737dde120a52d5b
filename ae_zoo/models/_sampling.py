"""How a model draws images: from its own prior, or from a sampler attached to it.

A generative model draws codes from its own prior (``sample_codes``). Any unconditional
model can also carry a *sampler* (:mod:`ae_zoo.samplers`): a Keras layer fitted to the
model's codes that holds what it fitted as non-trainable variables. Attached with
:meth:`Sampling.attach_sampler` (``sampler.fit(model, x)`` attaches it), the sampler is a
sublayer of the model: it is saved and loaded with it in ``.keras`` files, its stateless
per-seed draw is traced into the exported ``sample`` signature, and ``model.sample`` draws
from it. The model never imports a sampler: it asks the attached object for
``sample_codes(seeds)`` and tells samplers what to fit (``sampling_space``,
``sampler_targets``) and how their draws become codes (``codes_from_sampler``).
"""

import numpy as np
import tensorflow as tf

from ae_zoo import _random
from ae_zoo.models import _checks


class _Hidden:
    """Holds an object out of sight of Keras' attribute tracking and saving walks."""

    def __init__(self, value):
        self.value = value


class Sampling:
    """The sampling half of every ae_zoo model (a mixin of :class:`~ae_zoo.models.Autoencoder`)."""

    #: The sampler ``ae-zoo train`` fits to the codes after training (a name of
    #: :mod:`ae_zoo.samplers`). None: a generative model keeps its own prior, any other
    #: model gets the ex-post Gaussian mixture (``"gmm"``) of Ghosh et al. (2020).
    default_sampler = None

    @property
    def sampler(self):
        """The attached sampler, or None."""
        return self.__dict__.get("_sampler")

    @property
    def can_sample(self):
        """Whether :meth:`sample` works: the model has a prior of its own (``generative``)
        or a sampler is attached."""
        return bool(self.generative or self.sampler is not None)

    @property
    def sampler_name(self):
        """The attached sampler's name (``"gmm"``, ...), or None."""
        return None if self.sampler is None else self.sampler.sampler_name

    def attach_sampler(self, sampler):
        """Attaches a fitted sampler (``None`` detaches the current one); returns it.

        The sampler becomes a tracked sublayer: it is saved with the model, exported in
        its ``sample`` signature, and :meth:`sample` draws from it instead of the prior.
        """
        if sampler is not None:
            if self.conditional:
                raise TypeError(f"{type(self).__name__} is conditional: samplers model "
                                "unconditional codes; use generate(labels) instead.")
            sampler.check_model(self)
        if sampler is self.sampler:
            return sampler
        tracker = self._tracker
        locked = tracker.locked
        tracker.unlock()  # a built Keras layer locks its state; a sampler comes later
        try:
            if self.sampler is not None:
                tracker.untrack(self.sampler)
            self._sampler = sampler
        finally:
            if locked:
                tracker.lock()
        if sampler is not None:
            sampler.bind(_Hidden(self))
        self._compiled_functions.pop("draw_codes", None)  # traced with the old source of codes
        return sampler

    def detach_sampler(self):
        """Removes the attached sampler and returns it (None if there was none)."""
        sampler = self.sampler
        self.attach_sampler(None)
        return sampler

    # -------------------------------------------------- what a sampler fits
    def sampling_space(self):
        """What a sampler of this model draws: ``{"kind": "continuous", "shape":
        (latent_dim,)}``, or for discrete codes ``{"kind": "discrete", "shape": grid,
        "num_embeddings": K}`` (a grid of code indices)."""
        return {"kind": "continuous", "shape": (int(self.latent_dim),)}

    def sampler_targets(self, x, batch_size=256):
        """What a sampler is fitted to, for images ``x`` (numpy): the codes."""
        return np.asarray(self.encode(x, batch_size=batch_size))

    def codes_from_sampler(self, draws):
        """The codes the decoder reads for a sampler's ``draws`` (the same, here)."""
        return draws

    # ------------------------------------------------------------- drawing
    def sample_codes(self, seeds, *, labels=None):
        """One code per int64 seed, drawn statelessly (a generative model implements it)."""
        raise NotImplementedError(f"{type(self).__name__} declares no way to draw codes.")

    def draw_codes(self, seeds, *, labels=None):
        """One code per int64 seed: from the attached sampler, else from the model's own
        prior (:meth:`sample_codes`). Stateless and traceable: the ``sample`` signature."""
        if self.sampler is not None:
            return self.codes_from_sampler(self.sampler.sample_codes(seeds))
        self._check_can_sample()
        return self.sample_codes(seeds, labels=labels)

    def _check_can_sample(self):
        if not self.can_sample:
            raise TypeError(
                f"{type(self).__name__} is not generative: it has no prior to sample from. "
                "Fit a sampler to its codes, e.g. ae_zoo.samplers.GaussianMixtureSampler()"
                ".fit(model, x_train), or decode codes of your own with decode().")

    def sample(self, num_samples, *, labels=None, seed=None):
        """``num_samples`` images decoded from :meth:`draw_codes` (the attached sampler's
        draws, else the prior's); image ``i`` from the stateless seed ``seed + i``, so the
        same seed gives the same images. A conditional model decodes image i under
        ``labels[i]`` (default: the classes in turn)."""
        self._check_can_sample()
        num_samples = _checks.check_count(num_samples, "num_samples")
        if self.conditional and labels is None:
            labels = np.arange(num_samples) % self.num_classes
        seeds = _random.seed_range(num_samples, _checks.check_seed(seed))
        if "draw_codes" not in self._compiled_functions:  # one graph, not a Python loop per seed
            self._compiled_functions["draw_codes"] = tf.function(
                lambda s, c: self.draw_codes(s, labels=c), reduce_retracing=True)
        codes = self._compiled_functions["draw_codes"](
            seeds, None if labels is None else tf.constant(np.asarray(labels)))
        return self.decode(codes, labels=labels)
