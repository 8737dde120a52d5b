"""Network builders: shapes for every architecture and input size, conditioning, errors."""

import keras
import numpy as np
import pytest

from ae_zoo import nets

SIZES = [(28, 28, 1), (32, 32, 3), (64, 64, 1), (20, 36, 2), (8, 8, 1), (7, 9, 1)]
OPTIONS = {"mlp": {"hidden_units": (32,)}, "conv": {"filters": (4, 8)},
           "conv_unpool": {"filters": (4, 8)}}


def encode(encoder, inputs):
    out = encoder(inputs)
    if isinstance(out, dict):  # Keras does not take dicts mixing numpy arrays and tensors
        out = {k: np.asarray(v) for k, v in out.items()}
        return out["code"], out
    return np.asarray(out), None


def decoder_inputs(arch, z, enc_out=None):
    """The decoder's inputs: the code, plus the switches for conv_unpool."""
    if arch != "conv_unpool":
        return z
    if enc_out is not None:
        return {**enc_out, "code": z}
    return {"code": z}


@pytest.mark.parametrize("shape", SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("arch", nets.ARCHITECTURES)
def test_output_shapes_for_every_architecture_and_size(arch, shape):
    encoder, decoder = nets.build_networks(arch, shape, code_dim=6, latent_dim=3, **OPTIONS[arch])
    x = np.random.default_rng(0).uniform(size=(2, *shape)).astype("float32")
    code, enc_out = encode(encoder, x)
    assert tuple(code.shape) == (2, 6)
    z = np.random.default_rng(1).normal(size=(2, 3)).astype("float32")
    dec_in = decoder_inputs(arch, z, enc_out)
    out = decoder(dec_in)
    assert tuple(out.shape) == (2, *shape)
    assert out.dtype == "float32"
    assert tuple(decoder.outputs[0].shape) == (None, *shape)
    assert np.all(np.isfinite(np.asarray(out)))


@pytest.mark.parametrize("arch", nets.ARCHITECTURES)
def test_output_channels_option(arch):
    encoder, decoder = nets.build_networks(arch, (20, 36, 2), 4, output_channels=5, **OPTIONS[arch])
    assert tuple(decoder.outputs[0].shape) == (None, 20, 36, 5)
    assert tuple(encoder.inputs[0].shape) == (None, 20, 36, 2)


@pytest.mark.parametrize("arch,options,shape", [
    ("conv", {"filters": (4, 8, 8), "kernel_size": 5, "strides": 3, "dense_units": (16,)}, (20, 36, 2)),
    ("conv", {"filters": (4,), "strides": (2, 3), "activation": "tanh"}, (11, 13, 1)),
    ("conv_unpool", {"filters": (4, 8), "pool_size": 3, "dense_units": (16,)}, (20, 36, 2)),
    ("conv_unpool", {"filters": (4, 4), "pool_size": (2, 3)}, (9, 14, 3)),
    ("mlp", {"hidden_units": (16, 8), "activation": "tanh"}, (10,)),
])
def test_network_options_still_give_exact_shapes(arch, options, shape):
    encoder, decoder = nets.build_networks(arch, shape, 3, **options)
    x = np.random.default_rng(2).uniform(size=(2, *shape)).astype("float32")
    code, enc_out = encode(encoder, x)
    assert tuple(code.shape) == (2, 3)
    assert tuple(decoder(decoder_inputs(arch, code, enc_out)).shape) == (2, *shape)


def test_mlp_uses_hidden_units_mirrored():
    encoder, decoder = nets.build_networks("mlp", (8, 8, 1), 3, hidden_units=(32, 16))
    enc_dense = [l.units for l in encoder.layers if isinstance(l, keras.layers.Dense)]
    dec_dense = [l.units for l in decoder.layers if isinstance(l, keras.layers.Dense)]
    assert enc_dense == [32, 16, 3]
    assert dec_dense == [16, 32, 64]


def test_conv_unpool_decoder_uses_the_switches():
    encoder, decoder = nets.build_networks("conv_unpool", (12, 10, 1), 4, filters=(4, 8))
    x = np.random.default_rng(3).uniform(size=(3, 12, 10, 1)).astype("float32")
    enc_out = {k: np.asarray(v) for k, v in encoder(x).items()}
    assert set(enc_out) == {"code", "switches_0", "switches_1"}
    assert tuple(enc_out["switches_0"].shape) == (3, 6, 5, 4)
    assert tuple(enc_out["switches_1"].shape) == (3, 3, 3, 8)
    assert enc_out["switches_0"].dtype == "int32"
    with_switches = np.asarray(decoder(enc_out))
    fixed = {k: -np.ones(v.shape, "int32") for k, v in enc_out.items() if k != "code"}
    without = np.asarray(decoder({"code": enc_out["code"], **fixed}))
    assert with_switches.shape == without.shape == (3, 12, 10, 1)
    assert np.abs(with_switches - without).max() > 1e-6


@pytest.mark.parametrize("arch", nets.ARCHITECTURES)
@pytest.mark.parametrize("shape", [(8, 8, 1), (20, 36, 2)], ids=["8x8x1", "20x36x2"])
def test_conditional_encoder_accepts_x_and_condition(arch, shape):
    encoder, decoder = nets.build_networks(arch, shape, 4, latent_dim=4 + 3, condition_dim=3,
                                           **OPTIONS[arch])
    assert len(encoder.inputs) == 2
    assert tuple(encoder.inputs[1].shape) == (None, 3)
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(5, *shape)).astype("float32")
    c0 = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1]]
    c1 = np.eye(3, dtype="float32")[[1, 2, 0, 1, 2]]
    code0, enc_out = encode(encoder, [x, c0])
    code1, _ = encode(encoder, [x, c1])
    assert tuple(code0.shape) == (5, 4)
    assert np.abs(np.asarray(code0) - np.asarray(code1)).max() > 1e-6  # the condition is used
    zc = np.concatenate([np.asarray(code0), c0], axis=-1)
    assert tuple(decoder(decoder_inputs(arch, zc, enc_out)).shape) == (5, *shape)


def test_unknown_architecture_raises_listing_valid_ones():
    with pytest.raises(ValueError, match="resnet") as info:
        nets.build_networks("resnet", (8, 8, 1), 4)
    for arch in ("mlp", "conv", "conv_unpool"):
        assert arch in str(info.value)


@pytest.mark.parametrize("arch,options,bad", [
    ("mlp", {"filters": (4,)}, "filters"),
    ("conv", {"pool_size": 2}, "pool_size"),
    ("conv_unpool", {"strides": 2}, "strides"),
    ("conv", {"hidden_units": (4,)}, "hidden_units"),
])
def test_option_the_architecture_does_not_take_raises(arch, options, bad):
    with pytest.raises(TypeError, match=bad):
        nets.build_networks(arch, (8, 8, 1), 4, **options)
    with pytest.raises(TypeError, match=bad):
        nets.validate_options(arch, options)


def test_options_for_lists_each_builders_options():
    assert {"hidden_units", "activation"} <= set(nets.options_for("mlp"))
    assert {"filters", "kernel_size", "strides", "dense_units", "activation"} <= set(
        nets.options_for("conv"))
    assert {"filters", "kernel_size", "pool_size", "dense_units", "activation"} <= set(
        nets.options_for("conv_unpool"))
    assert "pool_size" not in nets.options_for("conv") and "strides" not in nets.options_for(
        "conv_unpool")
    for arch in nets.ARCHITECTURES:
        assert set(nets.options_for(arch)) <= set(nets.NETWORK_OPTIONS)


@pytest.mark.parametrize("arch", ["conv", "conv_unpool"])
def test_conv_architectures_need_images(arch):
    with pytest.raises(ValueError, match="images"):
        nets.build_networks(arch, (64,), 4)


@pytest.mark.parametrize("kwargs", [
    {"input_shape": (8, 0, 1), "code_dim": 4},
    {"input_shape": (), "code_dim": 4},
    {"input_shape": (8, 8, 1), "code_dim": 0},
    {"input_shape": (8, 8, 1), "code_dim": 4, "latent_dim": -1},
])
def test_invalid_sizes_raise(kwargs):
    with pytest.raises(ValueError):
        nets.build_networks("mlp", **kwargs)


@pytest.mark.parametrize("arch", nets.ARCHITECTURES)
def test_networks_are_serializable(arch):
    encoder, decoder = nets.build_networks(arch, (12, 10, 2), 3, **OPTIONS[arch])
    x = np.random.default_rng(5).uniform(size=(2, 12, 10, 2)).astype("float32")
    for model in (encoder, decoder):
        clone = keras.Model.from_config(model.get_config())
        clone.set_weights(model.get_weights())
        inputs = x if model is encoder else decoder_inputs(arch, *encode(encoder, x))
        got, want = clone(inputs), model(inputs)
        if isinstance(want, dict):
            for key in want:
                np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]))
        else:
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
