"""Evaluation: latent statistics, interpolation and traversal; disentanglement metrics."""

from ae_zoo.evaluation.latent import (
    code_summary,
    decode_codes,
    interpolate,
    latent_codes,
    latent_path,
    latent_stats,
    traversal_grid_images,
    traverse,
)
from ae_zoo.evaluation.disentanglement import (
    METRICS,
    beta_vae_score,
    compute_all,
    dci,
    factor_vae_score,
    mig,
    modularity_explicitness,
    sap,
    unsupervised_scores,
)
