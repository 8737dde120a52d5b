"""Evaluation: the math of looking inside a latent space (statistics, interpolation,
traversal), the disentanglement metrics and how to run them on a model, the generation
metrics (FID, KID, precision/recall) with their feature networks, and a model's test
metrics. The commands that use them (evaluate, compare, study, benchmark) are
:mod:`ae_zoo.experiments`."""

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
from ae_zoo.evaluation.generation import (
    feature_extractor,
    feature_metrics,
    frechet_distance,
    generation_metrics,
    kernel_distance,
    precision_recall,
)
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
from ae_zoo.evaluation.measures import (
    draw_samples,
    evaluate_generation,
    evaluate_model,
    latent_summary,
)
from ae_zoo.evaluation.scoring import (
    FAST_METRIC_SETTINGS,
    FULL_METRIC_SETTINGS,
    HEADLINE_LABELS,
    HEADLINE_SCORES,
    compute_disentanglement,
    representation_function,
    resolve_metrics,
)

__all__ = [
    "FAST_METRIC_SETTINGS", "FULL_METRIC_SETTINGS", "HEADLINE_LABELS", "HEADLINE_SCORES",
    "METRICS", "beta_vae_score", "code_summary", "compute_all", "compute_disentanglement", "dci",
    "decode_codes", "draw_samples", "evaluate_generation", "evaluate_model", "factor_vae_score",
    "feature_extractor", "feature_metrics", "frechet_distance", "generation_metrics",
    "interpolate", "kernel_distance", "latent_codes", "latent_path", "latent_stats",
    "latent_summary", "mig", "modularity_explicitness", "precision_recall",
    "representation_function", "resolve_metrics", "sap", "traversal_grid_images", "traverse",
    "unsupervised_scores",
]
