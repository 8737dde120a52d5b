"""Session fixtures: every model family exported once and cached."""

import pytest

from ae_zoo.export import export_saved_model
from tests.export.helpers import cases, make_model, train_briefly

# Trained for one step before export (the rest are exported untrained).
TRAINED = ("cvae",)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``exported(case) -> (model, version dir)``: each case is exported once per session."""
    cache = {}
    root = tmp_path_factory.mktemp("exports")

    def get(case):
        if case not in cache:
            name, arch = cases()[case]
            model = make_model(name, arch)
            if case in TRAINED:
                train_briefly(model)
            cache[case] = (model, export_saved_model(model, root / case))
        return cache[case]

    return get
