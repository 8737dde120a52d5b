"""The denoising autoencoder (Vincent et al. 2008, 2010)."""

import keras
from keras import ops

from ae_zoo.layers import make_corruption
from ae_zoo.models import hparams
from ae_zoo.models.base import Autoencoder
from ae_zoo.models.registry import register


@register("denoising_ae")
class DenoisingAutoencoder(Autoencoder):
    """Reconstructs the clean input from a corrupted copy.

    Minimizes E_x E_{x~ ~ q(x~|x)} l(x, g(f(x~))): the corruption q is drawn
    fresh for every batch during training only, and the loss compares the
    reconstruction of the corrupted input with the *clean* input (Vincent et
    al. 2008). ``corruption`` is ``"gaussian"``, ``"salt_and_pepper"``,
    ``"masking"`` or ``"occlusion"`` (inpainting), or a corruption layer;
    ``noise_level`` is its strength (see :func:`ae_zoo.layers.make_corruption`).
    Outside training (evaluate, predict, reconstruct) inputs are not corrupted.
    """

    denoising = True
    #: noise_level range searched per built-in corruption (see ae_zoo.layers.make_corruption).
    NOISE_RANGES = {"gaussian": (0.1, 0.6, 0.3), "salt_and_pepper": (0.05, 0.5, 0.2),
                    "masking": (0.1, 0.7, 0.3), "occlusion": (0.2, 0.8, 0.5)}

    @classmethod
    def search_space(cls, options):
        corruption = options.get("corruption", "gaussian")
        if corruption not in cls.NOISE_RANGES:  # a corruption layer of the user's: leave it
            return {}
        low, high, default = cls.NOISE_RANGES[corruption]
        level = options.get("noise_level")
        return {"noise_level": hparams.uniform(low, high, default if level is None else level)}

    def __init__(self, corruption="gaussian", noise_level=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(corruption, dict):
            corruption = keras.saving.deserialize_keras_object(corruption)
        if not isinstance(corruption, keras.layers.Layer):
            seed = None if self.seed is None else self.seed + 1
            # Clipping to [0, 1] suits [0, 1] data (BCE); MSE data may have any range.
            corruption = make_corruption(corruption, noise_level, seed=seed,
                                         clip=self.reconstruction_loss == "bce")
        self.corruption = corruption
        self.noise_level = noise_level

    def corrupt(self, x):
        """A freshly corrupted copy of ``x``, as the model sees it in training."""
        return self.corruption(ops.convert_to_tensor(x), training=True)

    def corruption_description(self):
        """The corruption in words (e.g. "Gaussian noise, sd 0.3"), for figure titles."""
        describe = getattr(self.corruption, "describe", None)
        return describe() if describe else type(self.corruption).__name__

    def objective(self, x, y=None, *, labels=None, training=False):
        target = self.reconstruction_target(x, y)
        return super().objective(self.corruption(x, training=training), target, labels=labels,
                                 training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "corruption": keras.saving.serialize_keras_object(self.corruption),
            "noise_level": self.noise_level,
        }
