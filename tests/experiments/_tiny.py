"""Shared by the report and study tests: metric settings that run in seconds."""

from sklearn.tree import DecisionTreeClassifier

PNG = b"\x89PNG\r\n\x1a\n"
# A depth-2 tree stands in for DCI's and the downstream task's boosting; a few dozen
# points per metric.
TINY_METRICS = {
    "batch_size": 64,
    "beta_vae_score": {"num_train": 20, "num_eval": 10, "group_size": 4},
    "factor_vae_score": {"num_train": 20, "num_eval": 10, "group_size": 4,
                         "num_variance_estimate": 64},
    "mig": {"num_train": 64},
    "dci": {"num_train": 64, "num_test": 32,
            "estimator": DecisionTreeClassifier(max_depth=2, random_state=0)},
    "sap": {"num_train": 64, "num_test": 32},
    "modularity_explicitness": {"num_train": 64, "num_test": 32},
    "unsupervised_scores": {"num_train": 64},
    "irs": {"num_train": 64},
    "downstream_task": {"num_train": (16, 64), "num_test": 32, "efficiency_sizes": (16, 64),
                        "estimator": DecisionTreeClassifier(max_depth=2, random_state=0)},
    "unsupervised_scores_sampled": {"num_train": 64},
}
