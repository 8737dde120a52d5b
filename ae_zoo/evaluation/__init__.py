"""Evaluation: latent statistics, interpolation and traversal; disentanglement metrics;
the evaluate / compare / study reports."""

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
from ae_zoo.evaluation.report import (
    FAST_METRIC_SETTINGS,
    HEADLINE_LABELS,
    HEADLINE_SCORES,
    evaluate_run,
    representation_function,
    resolve_metrics,
)
from ae_zoo.evaluation.compare import compare_models, matched_recipes
from ae_zoo.evaluation.study import (
    DEFAULT_STEPS,
    STUDY_METRIC_SETTINGS,
    run_study,
    study_recipe,
    variance_shares,
)
