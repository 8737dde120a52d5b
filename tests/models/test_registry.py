"""The model registry: names, get, create."""

import pytest

import ae_zoo.models as models
from ae_zoo.models import (
    Autoencoder,
    ConvAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
)
from tests.models.helpers import MODEL_NAMES

CLASSES = {"ae": Autoencoder, "conv_ae": ConvAutoencoder, "denoising_ae": DenoisingAutoencoder,
           "sparse_ae": SparseAutoencoder}


def test_names_contains_the_four_deterministic_models():
    names = models.names()
    assert set(MODEL_NAMES) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_get_returns_the_registered_class(name):
    cls = models.get(name)
    assert cls is CLASSES[name] and models.registry.name_of(cls) == name
    assert issubclass(cls, Autoencoder)


@pytest.mark.parametrize("name,arch", [("ae", "mlp"), ("conv_ae", "conv"),
                                       ("denoising_ae", "mlp"), ("sparse_ae", "mlp")])
def test_create_passes_keyword_arguments(name, arch):
    options = {"hidden_units": (16,)} if arch == "mlp" else {"filters": (4, 8)}
    model = models.create(name, latent_dim=5, input_shape=(8, 8, 1), seed=3, **options)
    assert type(model) is CLASSES[name]
    assert model.latent_dim == 5 and model.seed == 3 and model.example_shape == (8, 8, 1)
    assert model.architecture == arch and model.network_options == options
    assert tuple(model.encoder.outputs[0].shape) == (None, 5)
    assert tuple(model.decoder.outputs[0].shape) == (None, 8, 8, 1)


def test_create_passes_model_specific_arguments():
    m = models.create("sparse_ae", latent_dim=2, sparsity="l1", sparsity_weight=0.3)
    assert (m.sparsity, m.sparsity_weight) == ("l1", 0.3)
    d = models.create("denoising_ae", latent_dim=2, corruption="masking", noise_level=0.7)
    assert d.corruption.rate == 0.7


@pytest.mark.parametrize("lookup", [models.get, models.create])
def test_unknown_name_raises_listing_valid_names(lookup):
    with pytest.raises(ValueError, match="nope") as info:
        lookup("nope")
    for name in models.names():
        assert name in str(info.value)


def test_registering_another_class_under_a_taken_name_raises():
    class Other(Autoencoder):
        pass

    with pytest.raises(ValueError, match="ae"):
        models.register("ae")(Other)
    assert models.get("ae") is Autoencoder
    assert models.register("ae")(Autoencoder) is Autoencoder  # idempotent
