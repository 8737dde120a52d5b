"""The conditional VAE: class labels condition the encoder and the decoder."""

import numpy as np

from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE


@register("cvae")
class ConditionalVAE(VAE):
    """Conditional VAE (Sohn et al. 2015; Kingma et al. 2014, "M2" without the classifier).

    Minimizes -E_q[log p(x|z, y)] + beta * KL(q(z|x, y) || N(0, I)): the
    one-hot label y is concatenated to the encoder's input (tiled over the
    image for convolutional encoders) and to z before the decoder.

    ``fit(x, labels)`` or a dataset of ``(x, labels)`` pairs trains it. Every method
    that sees images or codes takes their class ids as ``labels=``:
    ``encode(x, labels=y)``, ``decode(z, labels=y)``, ``reconstruct``,
    ``log_likelihood``, ``kl_per_dim``, ``sample(n, labels=..., seed=...)`` (labels
    cycle through the classes unless given); ``generate(labels, seed)`` is
    ``sample(len(labels), labels=labels, seed=seed)``; ``model((x, labels))``,
    ``predict((x, labels))``.
    """

    conditional = True

    def __init__(self, num_classes=10, **kwargs):
        if isinstance(num_classes, bool) or int(num_classes) != num_classes or int(num_classes) < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}.")
        self.num_classes = int(num_classes)  # network_spec() needs it during super().__init__
        super().__init__(**kwargs)

    def generate(self, labels, seed=None):
        """One image per label from z ~ N(0, I); image ``i`` uses the stateless seed ``seed + i``."""
        labels = np.asarray(labels).reshape(-1)
        if labels.size == 0:
            raise ValueError("`labels` is empty: generate() draws one image per label.")
        return self.sample(len(labels), labels=labels, seed=seed)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

