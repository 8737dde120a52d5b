"""VAEs whose posterior is the VAE's Gaussian pushed through a normalizing flow: the
inverse autoregressive flow (Kingma et al. 2016) and planar and radial flows (Rezende and
Mohamed 2015).

z_0 = mu + sigma * eps ~ q_0(z|x) (the VAE's Gaussian), z_T = f_T o ... o f_1(z_0), and
log q(z_T|x) = log q_0(z_0|x) - sum_t log |det df_t/dz_{t-1}|. The flows are amortized:
their parameters are functions of the context (mu, log sigma^2) of each example. There is
no closed-form KL(q || N(0, I)) for a flow posterior, so ``kl`` is the Monte Carlo estimate
log q(z_T|x) - log p(z_T) at the training draw; the posterior is not Gaussian
(``posterior_type`` None): ``encode`` gives the flow of the mean, f_T o ... o f_1(mu).
With labels (a subclass with ``conditional = True`` and ``num_classes``) the flows see
the context of q_0(z|x, y).
"""

import numpy as np
import tensorflow_probability as tfp
from keras import layers, ops

from ae_zoo.layers.flows import FLOWS, MADE, identity_parameters, make_flow
from ae_zoo.models import _checks, hparams
from ae_zoo.models.registry import register
from ae_zoo.models.vae import VAE

tfb = tfp.bijectors


class FlowVAE(VAE):
    """A VAE whose posterior is its Gaussian refined by :meth:`flow`."""

    posterior_type = None
    analytic_kl = False

    def flow(self, z, context):
        """``(f(z), log |det df/dz|)`` for z (..., B, D) and the context (B, 2D)."""
        raise NotImplementedError

    def posterior_draw(self, mean, log_var, eps):
        z, log_q = super().posterior_draw(mean, log_var, eps)
        z, log_det = self.flow(z, ops.concatenate([mean, log_var], axis=-1))
        return z, log_q - log_det

    def _point_code(self, mean, log_var):
        return self.flow(mean, ops.concatenate([mean, log_var], axis=-1))[0]

    def codes(self, x, condition=None, training=False, return_distribution=False):
        """The flow of the posterior mean, f_T o ... o f_1(mu), for a batch."""
        if return_distribution:
            raise TypeError(f"{type(self).__name__}'s posterior is a flow, not a Gaussian "
                            "(posterior_type is None): it has no (mean, scale).")
        mean, log_var, _ = self.posterior_params(x, training, condition)
        return self._point_code(mean, log_var)

    def forward(self, x, training=False, condition=None):
        mean, log_var, side = self.posterior_params(x, training, condition)
        code = self._point_code(mean, log_var)
        return code, self._decoder_logits(self.decoder_input(code, condition), side, training)

    def serving_encode(self, x, condition=None):
        return {"code": self.codes(x, condition)}


@register("vae_iaf")
class VAEIAF(FlowVAE):
    """VAE with an inverse autoregressive flow posterior (Kingma et al. 2016).

    Minimizes -E_q[log p(x|z_T)] + beta * E_q[log q(z_T|x) - log p(z_T)] (the KL as a
    Monte Carlo estimate), z_T the last of ``num_flows`` IAF steps
    z_t = (z_{t-1} - m_t) * exp(-s_t), (m_t, s_t) = MADE_t(z_{t-1}, context): one
    ``tfb.MaskedAutoregressiveFlow`` in its inverse (parallel) direction, log-determinant
    -sum_i s_t,i. The order of the dimensions is reversed between steps (``tfb.Permute``).

    Args:
        num_flows: the number of IAF steps (flow length, default 2).
        made_units: the hidden layers of each step's MADE (default (128, 128)).
    """

    @classmethod
    def search_space(cls, options):
        return {"num_flows": hparams.int_range(1, 6, options.get("num_flows", 2))}

    def __init__(self, num_flows=2, made_units=(128, 128), **kwargs):
        self.num_flows = _checks.check_count(num_flows, "num_flows")
        units = tuple(made_units)
        if not units:
            raise ValueError("`made_units` must name at least one hidden layer, e.g. (128, 128).")
        self.made_units = tuple(_checks.check_count(u, "made_units") for u in units)
        super().__init__(**kwargs)
        self.mades = [MADE(self.latent_dim, self.made_units, context_size=2 * self.latent_dim,
                           dtype="float32", name=f"made_{t}") for t in range(self.num_flows)]

    def iaf_steps(self, context):
        """The bijectors of the flow, first step first: each IAF step (a
        ``MaskedAutoregressiveFlow`` to be used in its inverse direction) then, between
        steps, the reversal of the dimensions."""
        reverse = tfb.Permute(list(range(self.latent_dim))[::-1])
        steps = []
        for t, made in enumerate(self.mades):
            steps.append(tfb.MaskedAutoregressiveFlow(
                shift_and_log_scale_fn=lambda y, made=made: made(y, context)))
            if t + 1 < len(self.mades):
                steps.append(reverse)
        return steps

    def flow(self, z, context):
        log_det = 0.0
        for step in self.iaf_steps(context):
            if isinstance(step, tfb.MaskedAutoregressiveFlow):
                log_det = log_det + step.inverse_log_det_jacobian(z, event_ndims=1)
                z = step.inverse(z)
            else:
                z = step.forward(z)
        return z, log_det

    def get_config(self):
        return {**super().get_config(), "num_flows": self.num_flows, "made_units": self.made_units}


def _flow_names(flows):
    """``flows`` (a list of names, or one string of them joined by '-') as a tuple."""
    names = tuple(flows.split("-")) if isinstance(flows, str) else tuple(flows)
    unknown = [n for n in names if n not in FLOWS]
    if not names or unknown:
        raise ValueError(f"`flows` must be a non-empty list of {' / '.join(FLOWS)} (or those "
                         f"names joined by '-'), got {flows!r}.")
    return names


@register("vae_nf")
class VAENF(FlowVAE):
    """VAE with a planar / radial normalizing-flow posterior (Rezende and Mohamed 2015).

    Minimizes -E_q[log p(x|z_T)] + beta * E_q[log q(z_T|x) - log p(z_T)] (the KL as a
    Monte Carlo estimate), z_T = f_T o ... o f_1(z_0), each f_t a
    :class:`~ae_zoo.layers.flows.PlanarFlow` or :class:`~ae_zoo.layers.flows.RadialFlow`
    bijector whose parameters a dense layer computes from the context (mu, log sigma^2);
    the layers start at the parameters where each flow is the identity (the IAF's MADEs
    start so too), so training starts from the VAE's Gaussian posterior.

    Args:
        flows: the flow, first step first: a list such as ``["planar", "radial"]`` or the
            names joined by '-' (``"planar-radial"``, the form ``get_config`` and searches
            use); default four planar steps each followed by a radial one.
    """

    DEFAULT_FLOWS = ("planar", "radial") * 4

    @classmethod
    def search_space(cls, options):
        default = "-".join(_flow_names(options.get("flows", cls.DEFAULT_FLOWS)))
        values = ["-".join(names * (n // len(names)))
                  for n in (2, 4, 8) for names in (("planar",), ("radial",), ("planar", "radial"))]
        return {"flows": hparams.choice(values, default)}

    def __init__(self, flows=DEFAULT_FLOWS, **kwargs):
        self.flows = _flow_names(flows)
        super().__init__(**kwargs)
        d, rng = self.latent_dim, np.random.default_rng(self.seed)
        self.flow_parameters = [
            layers.Dense(FLOWS[kind](d), kernel_initializer="zeros", dtype="float32",
                         name=f"{kind}_{t}_parameters")
            for t, kind in enumerate(self.flows)]
        for kind, dense in zip(self.flows, self.flow_parameters):
            dense.build((None, 2 * d))
            dense.bias.assign(identity_parameters(kind, d, rng))

    def bijectors(self, context):
        """The flow's bijectors for a batch of contexts (B, 2D), first step first."""
        return [make_flow(kind, dense(context)) for kind, dense in zip(self.flows, self.flow_parameters)]

    def flow(self, z, context):
        log_det = 0.0
        for bijector in self.bijectors(context):
            log_det = log_det + bijector.forward_log_det_jacobian(z, event_ndims=1)
            z = bijector.forward(z)
        return z, log_det

    def get_config(self):
        return {**super().get_config(), "flows": "-".join(self.flows)}
