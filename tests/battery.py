"""The shared per-model test battery (as KerasHub's ``run_model_saving_test`` and friends).

Every registered model, built-in or plugin, gets these checks by being registered:
``tests/test_battery.py`` and ``tests/test_battery_end_to_end.py`` run each one over
``ae_zoo.models.names()``. A model is asked what it can do (its declared capabilities),
never what class it is. Models are tiny
(8x8x1 images, latent 2, one hidden layer of 16, or 4 filters) and train for seconds.

A model's own test file holds only what is special about it, checked against an
independent reference.
"""

import inspect
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from ae_zoo import cli, models
from ae_zoo.export import export_saved_model, find_forbidden_ops, load_pretrained
from ae_zoo.training.build import dtype_policy
from ae_zoo.training.pipeline import ArrayPipeline
from ae_zoo.tuning import AutoencoderHyperModel, default_objective, objective_names

SHAPE = (8, 8, 1)
LATENT = 2
NUM_CLASSES = 3
EPOCHS, BATCH = 6, 16


def network_options(cls):
    """Tiny widths for the model's default architecture."""
    return {"hidden_units": (16,)} if cls.default_architecture == "mlp" else {"filters": (4,)}


def tiny(name, seed=0, user_networks=False, **overrides):
    """A tiny, untrained model registered as ``name``, built on 8x8x1 images (on Keras
    networks of the test's own with ``user_networks``)."""
    cls = models.get(name)
    kwargs = dict(latent_dim=LATENT, input_shape=SHAPE, seed=seed, **network_options(cls))
    if cls.conditional:
        kwargs["num_classes"] = NUM_CLASSES
    if "dataset_size" in inspect.signature(cls.__init__).parameters:
        kwargs["dataset_size"] = 64
    kwargs.update(overrides)
    keras.utils.set_random_seed(seed)
    model = cls(**kwargs)
    if not user_networks:
        return model
    for key in network_options(cls):
        kwargs.pop(key)
    encoder, decoder = own_networks(model.network_spec())
    keras.utils.set_random_seed(seed)
    return cls(**kwargs, encoder=encoder, decoder=decoder)


def own_networks(spec):
    """A user's functional encoder and decoder for the widths a model asks for
    (``network_spec``: the encoder's output, the decoder's input, the condition)."""
    x = keras.Input(SHAPE, name="image")
    inputs, h = x, keras.layers.Flatten()(x)
    if spec.get("condition_dim"):
        condition = keras.Input((spec["condition_dim"],), name="one_hot")
        inputs, h = [x, condition], keras.layers.Concatenate()([h, condition])
    h = keras.layers.Dense(16, activation="relu")(h)
    encoder = keras.Model(inputs, keras.layers.Dense(spec["code_dim"])(h), name="user_encoder")
    z = keras.Input((spec["latent_dim"],), name="code")
    h = keras.layers.Dense(16, activation="relu")(z)
    h = keras.layers.Dense(int(np.prod(SHAPE)))(h)
    decoder = keras.Model(z, keras.layers.Reshape(SHAPE)(h), name="user_decoder")
    return encoder, decoder


def digits(n=64, offset=0):
    """``(x, labels)``: sklearn's 8x8 digits in [0, 1] and class ids in [0, NUM_CLASSES)."""
    bunch = load_digits()
    x = (bunch.images / 16.0).astype("float32")[..., None][offset:offset + n]
    return x, (bunch.target[offset:offset + n] % NUM_CLASSES).astype("int64")


def labels_for(model, labels):
    """``labels`` when the model is conditional, else None: what its methods take."""
    return labels if model.conditional else None


class Counter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = self.batches = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def train(name, jit_compile=False, epochs=EPOCHS, **overrides):
    """``(model, history, before, after)``: a tiny model fit on 64 digits (evaluate dicts
    on them before and after), validated on 32 others."""
    model = tiny(name, **overrides)
    x, y = digits()
    vx, vy = digits(32, offset=1000)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)
    labels = labels_for(model, y)
    before = model.evaluate(x, labels, batch_size=64, return_dict=True, verbose=0)
    counter = Counter()
    history = model.fit(x, labels, epochs=epochs, batch_size=BATCH, shuffle=False,
                        validation_data=(vx, labels_for(model, vy)) if model.conditional else (vx,),
                        callbacks=[counter], verbose=0)
    after = model.evaluate(x, labels, batch_size=64, return_dict=True, verbose=0)
    history.counter = counter
    return model, history, before, after


# ------------------------------------------------------------------ the checks
def check_fit_lowers_the_loss(model, history, before, after):
    """A few epochs lower the loss; the history logs every declared term, finite, with its
    validation twin; callbacks see every epoch and batch."""
    assert after["loss"] < before["loss"], (before, after)
    assert after["reconstruction_loss"] < before["reconstruction_loss"], (before, after)
    terms = set(model.loss_terms)
    assert set(history.history) == terms | {f"val_{t}" for t in terms}
    for key, values in history.history.items():
        assert len(values) == EPOCHS and np.all(np.isfinite(values)), key
    steps = EPOCHS * (64 // BATCH)
    assert (history.counter.epochs, history.counter.batches) == (EPOCHS, steps)
    assert int(model.optimizer.iterations) == steps


def check_declarations(model):
    """The capabilities are declared with valid values, and the methods they promise work
    with the one signature every model has (labels keyword-only)."""
    capabilities = model.capabilities()
    assert set(capabilities) == set(models.CAPABILITIES)
    assert capabilities["latent_kind"] in ("continuous", "discrete")
    assert capabilities["posterior_type"] in (None, "gaussian")
    assert set(model.maximized_terms) | set(model.auxiliary_terms) <= set(model.loss_terms)
    assert model.tuning_objective.removeprefix("val_") in model.loss_terms
    x, y = digits(5, offset=500)
    labels = labels_for(model, y)
    z = np.asarray(model.encode(x, labels=labels))
    assert z.shape == (5, model.latent_dim) and np.all(np.isfinite(z))
    images = np.asarray(model.decode(z, labels=labels))
    assert images.shape == (5, *SHAPE)
    recon = np.asarray(model.reconstruct(x, labels=labels))
    np.testing.assert_allclose(model.reconstruct(x, labels=labels, batch_size=2), recon, atol=1e-5)
    np.testing.assert_allclose(model.encode(x, labels=labels, batch_size=3), z, atol=1e-5)
    if model.posterior_type == "gaussian":
        mean, scale = model.encode(x, labels=labels, return_distribution=True)
        np.testing.assert_allclose(np.asarray(mean), z, atol=1e-6)
        assert np.all(np.asarray(scale) > 0)
    wrong = None if model.conditional else y  # labels where none belong, or none where needed
    try:
        model.encode(x, labels=wrong)
    except ValueError as err:
        assert "conditional" in str(err)
    else:
        raise AssertionError("encode accepted labels that do not fit the model")
    if model.generative:
        a = np.asarray(model.sample(4, labels=labels_for(model, y[:4]), seed=7))
        b = np.asarray(model.sample(4, labels=labels_for(model, y[:4]), seed=7))
        assert a.shape == (4, *SHAPE) and np.array_equal(a, b)
    if model.has_likelihood:
        log_px = model.log_likelihood(x, labels=labels, num_samples=4)
        assert log_px.shape == (5,) and np.all(np.isfinite(log_px))


def check_fit_on_arrays_is_keras_fit_on_the_stream(name):
    """``fit`` on arrays (the fast path: the in-memory stream, several steps per execution,
    in one XLA program under XLA) reaches the weights of Keras' own loop fed the same
    batches (the model's seed orders them). Partial last batches: tests/training/test_fit.py."""
    x, y = digits(16)
    trained = []
    for engine in (None, models.KerasEngine()):
        model = tiny(name)
        if engine is not None:
            model.engine = engine
        model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      jit_compile=trained[0].jit_compile if trained else "auto")
        labels = labels_for(model, y)
        if engine is None:
            model.fit(x, labels, batch_size=8, epochs=2, verbose=0)
        else:
            pipeline = ArrayPipeline(x, labels, 8, seed=model.seed, drop_remainder=False)
            model.fit(pipeline.dataset(), epochs=2, callbacks=[pipeline.callback()], verbose=0)
        trained.append(model)
    fast, plain = trained
    assert fast.steps_per_execution == 2 and plain.steps_per_execution == 1
    assert int(fast.optimizer.iterations) == int(plain.optimizer.iterations) == 4
    for a, b in zip(fast.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def check_keras_round_trip(name, tmp_path):
    """``.keras`` save/load restores the class, config, outputs and optimizer state exactly,
    and the loaded model trains on exactly as the original does."""
    model = tiny(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    x, y = digits(16)
    model.fit(x, labels_for(model, y), epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert json.dumps(loaded.get_config(), sort_keys=True, default=str) == json.dumps(
        model.get_config(), sort_keys=True, default=str)
    x, y = digits(16, offset=200)
    labels = labels_for(model, y)
    for method in ("encode", "reconstruct"):
        np.testing.assert_array_equal(np.asarray(getattr(loaded, method)(x, labels=labels)),
                                      np.asarray(getattr(model, method)(x, labels=labels)))
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    h_model = model.fit(x, labels, epochs=1, batch_size=8, shuffle=False, verbose=0).history
    h_loaded = loaded.fit(x, labels, epochs=1, batch_size=8, shuffle=False, verbose=0).history
    for key in h_model:
        np.testing.assert_allclose(h_loaded[key], h_model[key], rtol=1e-5, atol=1e-6)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6)


def check_user_networks(name, tmp_path):
    """The model trains on a user's own Keras encoder and decoder, and round-trips them."""
    model = tiny(name, user_networks=True)
    assert model.architecture is None and model.encoder.name == "user_encoder"
    x, y = digits()
    labels = labels_for(model, y)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    history = model.fit(x, labels, epochs=4, batch_size=16, verbose=0).history
    assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]
    model.save(tmp_path / "user.keras")
    loaded = keras.models.load_model(tmp_path / "user.keras")
    assert loaded.encoder.name == "user_encoder" and loaded.decoder.name == "user_decoder"
    np.testing.assert_array_equal(np.asarray(loaded.reconstruct(x, labels=labels)),
                                  np.asarray(model.reconstruct(x, labels=labels)))


def _draws_noise(model, x, labels):
    """Whether the model's objective is stochastic (two evaluations of one of its terms
    differ: the loss, or what trains a helper network, such as a discriminator's loss)."""
    args = (tf.constant(x), None if labels is None else tf.constant(labels))
    first, second = (model.terms(*args, training=True) for _ in range(2))
    return any(float(first[k]) != float(second[k]) for k in first)


def check_xla(name):
    """The train step compiles with XLA, and the XLA-compiled computation equals the graph
    one: for a deterministic objective, the losses and weights after a few SGD steps from
    the same start (Adam's sign-like first steps would amplify float rounding); for a
    stochastic one (XLA and TensorFlow turn the same stateless seeds into different normal
    draws), one XLA-compiled Adam step with finite terms, and the model's deterministic
    pass, ``reconstruct``, compiled both ways. (XLA training over epochs, for the dense
    models that compile with XLA by default: check_fit_on_arrays_is_keras_fit_on_the_stream.)"""
    x, y = digits()
    probe = tiny(name)
    labels = labels_for(probe, y[:16])
    if _draws_noise(probe, x[:16], labels):
        probe.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
        terms = probe.train_on_batch(x[:16], labels, return_dict=True)
        assert probe.jit_compile and np.all(np.isfinite(list(terms.values()))), terms
        inputs = [tf.constant(x[:16])] + ([] if labels is None else [tf.constant(labels)])
        run = lambda t, *c: probe.reconstruct(t, labels=c[0] if c else None)  # noqa: E731
        np.testing.assert_allclose(tf.function(run, jit_compile=True)(*inputs).numpy(),
                                   tf.function(run, jit_compile=False)(*inputs).numpy(),
                                   rtol=1e-5, atol=1e-5)
        return
    models_by_jit = {}
    for jit_compile in (True, False):
        model = tiny(name)
        model.compile(optimizer=keras.optimizers.SGD(0.05), jit_compile=jit_compile)
        history = model.fit(x[:48], labels_for(model, y[:48]), epochs=1, batch_size=16,
                            shuffle=False, verbose=0).history
        models_by_jit[jit_compile] = (model, history)
    (xla, h_xla), (plain, h_plain) = models_by_jit[True], models_by_jit[False]
    assert xla.jit_compile and not plain.jit_compile
    for key in h_plain:
        np.testing.assert_allclose(h_xla[key], h_plain[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for a, b in zip(xla.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def check_mixed_precision(name, policy="mixed_bfloat16"):
    """Under a mixed policy the layers compute in 16 bits, every loss term is float32,
    training stays finite and the outputs are float32."""
    with dtype_policy(policy):
        model = tiny(name)
    assert model.compute_dtype in ("bfloat16", "float16")
    model.compile(jit_compile=False)
    x, y = digits(32)
    labels = labels_for(model, y)
    terms = model.terms(tf.constant(x), None if labels is None else tf.constant(labels),
                        training=True)
    assert all(value.dtype == "float32" for value in terms.values()), {
        k: v.dtype for k, v in terms.items()}
    history = model.fit(x, labels, batch_size=16, epochs=2, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values()), history
    recon = np.asarray(model.reconstruct(x, labels=labels))
    assert recon.dtype == np.float32 and np.isfinite(recon).all()


def _call(loaded, signature, **inputs):
    fn = loaded.signatures[signature]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


def check_export(model, tmp_path):
    """Every exported signature gives what the in-memory model gives; the graph holds
    nothing TF Serving cannot run; ``load_pretrained`` answers as the model does."""
    path = export_saved_model(model, tmp_path / "serving", version=1, warmup=False)
    assert find_forbidden_ops(path) == []
    loaded = tf.saved_model.load(path)
    x, y = digits(6, offset=300)
    labels = labels_for(model, y)
    with_label = {} if labels is None else {"label": labels}
    z = np.asarray(model.encode(x, labels=labels))
    expected = {
        "reconstruct": {"reconstruction": model.reconstruct(x, labels=labels)},
        "encode": {"code": z},
        "decode": {"reconstruction": model.decode(z, labels=labels)},
    }
    inputs = {"reconstruct": {"x": x}, "encode": {"x": x}, "decode": {"z": z}}
    if model.posterior_type == "gaussian":
        mean, scale = model.encode(x, labels=labels, return_distribution=True)
        expected["encode"].update(z_mean=mean, z_log_var=2.0 * np.log(np.asarray(scale)))
    seeds = np.arange(6, dtype="int64") + 11
    if model.generative:
        sig = "generate" if model.conditional else "sample"
        expected[sig] = {"image": model.sample(6, labels=labels, seed=11)}
        inputs[sig] = {"seed": seeds}
    expected_names = {"serving_default", *expected}
    assert expected_names <= set(loaded.signatures), sorted(loaded.signatures)
    for signature, outputs in expected.items():
        extra = with_label if signature != "sample" else {}
        got = _call(loaded, signature, **inputs[signature], **extra)
        for key, value in outputs.items():
            np.testing.assert_allclose(got[key], np.asarray(value), rtol=1e-4, atol=1e-4,
                                       err_msg=f"{signature}.{key}")
    pretrained = load_pretrained(tmp_path / "serving", require_card=False)
    assert pretrained.capabilities()["conditional"] == model.conditional
    assert pretrained.generative == model.generative
    assert pretrained.posterior_type == model.posterior_type
    assert pretrained.denoising == model.denoising  # its corruption recorded for the figures
    if model.denoising:
        assert pretrained.corruption_description() == model.corruption_description()
    np.testing.assert_allclose(pretrained.encode(x, labels=labels), z, rtol=1e-4, atol=1e-4)


def _non_default(spec):
    """A value of a search-space ``spec`` other than its default."""
    kind, default = spec["type"], spec.get("default")
    if kind == "choice":
        return [v for v in spec["values"] if v != default][-1]
    if kind in ("float", "int"):
        return spec["max"] if default != spec["max"] else spec["min"]
    if kind == "boolean":
        return not default
    return spec["value"]


def check_tuner(name):
    """The tuner's default space holds the common hyperparameters and the model's own; a
    trial's values reach the model it builds (its config, latent size, learning rate and
    widths); the default objective is one the model logs."""
    import keras_tuner

    cls = models.get(name)
    options = network_options(cls)
    hypermodel = AutoencoderHyperModel(name, input_shape=SHAPE, base_options=options,
                                       num_classes=NUM_CLASSES if cls.conditional else None,
                                       latent_dim=LATENT, dataset_size=64)
    own = set(cls.search_space({}))
    assert {"latent_dim", "learning_rate", "width_multiplier"} | own <= set(hypermodel.search_space)
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    chosen = {n: _non_default(spec) for n, spec in hypermodel.search_space.items()}
    hp.values.update(chosen)
    model = hypermodel.build(hp)
    assert type(model) is cls and model.compiled and model.latent_dim == chosen["latent_dim"]
    assert float(model.optimizer.learning_rate) == pytest.approx(chosen["learning_rate"], rel=1e-6)
    config = model.get_config()
    for key in own:  # numbers up to float rounding, other choices (strings) exactly
        expected = chosen[key]
        if isinstance(expected, (int, float)) and not isinstance(expected, bool):
            expected = pytest.approx(expected, rel=1e-6)
        assert config[key] == expected, key
    (option, widths), = options.items()
    assert model.network_options[option] == tuple(
        max(1, round(w * chosen["width_multiplier"])) for w in widths)
    assert default_objective(name).name in objective_names(name)


def check_cli_train(name, tmp_path):
    """``ae-zoo train NAME`` writes its run: the model (with the sampler fitted after
    training, when it has one), its metrics and figures."""
    out = tmp_path / name
    code = cli.main(["train", name, "--dataset", "digits", "--steps", "5", "--iwae-samples", "2",
                     "--latent-dim", "2", "--xla", "off", "--out", str(out)])
    assert code == 0
    files = {p.name for p in out.iterdir()}
    assert {"model.keras", "run.json", "metrics.json", "reconstructions.png"} <= files
    cls = models.get(name)  # every unconditional model samples: its prior, or its default sampler
    assert ("samples.png" in files) == (cls.generative or not cls.conditional)
    metrics = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(metrics["test_loss"]) and metrics["steps"] >= 5
    assert ("test_iwae_nll" in metrics) == models.get(name).has_likelihood
