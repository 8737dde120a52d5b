"""Session fixtures for the model tests: digits data and cached trained models."""

import types

import keras
import pytest
from sklearn.datasets import load_digits

from tests.models.helpers import BATCH, EPOCHS, Counter, make_model


@pytest.fixture(scope="session")
def digits():
    """sklearn's 8x8 digits scaled to [0, 1]: float32, (1797, 8, 8, 1)."""
    return (load_digits().images / 16.0).astype("float32")[..., None]


@pytest.fixture(scope="session")
def x_train(digits):
    return digits[:64]


@pytest.fixture(scope="session")
def x_val(digits):
    return digits[1000:1032]


@pytest.fixture(scope="session")
def trained(x_train, x_val):
    """``trained(name, arch)``: a tiny model fit once per session (cached).

    Returns a namespace: model, history, before/after (evaluate dicts on the
    training set), counter (epochs/batches seen by a callback). Tests must not
    train or otherwise mutate the returned model.
    """
    cache = {}

    def get(name, arch):
        if (name, arch) not in cache:
            model = make_model(name, arch)
            model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
            before = model.evaluate(x_train, batch_size=64, return_dict=True, verbose=0)
            counter = Counter()
            history = model.fit(x_train, epochs=EPOCHS, batch_size=BATCH,
                                validation_data=(x_val,), callbacks=[counter], verbose=0)
            after = model.evaluate(x_train, batch_size=64, return_dict=True, verbose=0)
            cache[name, arch] = types.SimpleNamespace(
                model=model, history=history, before=before, after=after, counter=counter)
        return cache[name, arch]

    return get
