"""Errors a Keras user meets first say what to do (issue 20, point 5)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo import load_pretrained, models
from tests.export.helpers import SHAPE, batch


def test_a_vae_encoder_of_latent_dim_outputs_is_told_it_needs_twice_as_many():
    encoder = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(2)])
    decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64),
                                keras.layers.Reshape(SHAPE)])
    vae = models.VAE(latent_dim=2, encoder=encoder, decoder=decoder)
    vae.compile(jit_compile=False)
    with pytest.raises(ValueError, match=r"must output 2 \* latent_dim = 4 values .*outputs 2"):
        vae.fit(batch(8)["x"], epochs=1, verbose=0)


def test_encode_of_a_tf_data_dataset_says_to_pass_arrays(exported):
    model, _ = exported("vae")
    dataset = tf.data.Dataset.from_tensor_slices(batch(4)["x"]).batch(2)
    with pytest.raises(TypeError, match="is a tf.data.Dataset; this method takes arrays"):
        model.encode(dataset)
    codes = np.concatenate([model.encode(x) for x in dataset])  # what the message suggests
    np.testing.assert_allclose(codes, model.encode(batch(4)["x"]), atol=1e-6)


def test_an_export_without_a_card_names_the_option_that_loads_it(exported):
    _, version_dir = exported("ae")
    with pytest.raises(FileNotFoundError, match="require_card=False"):
        load_pretrained(version_dir)
    assert load_pretrained(version_dir, require_card=False).card == {}
