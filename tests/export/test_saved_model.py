"""SavedModel export: signatures equal the in-memory model, TF Serving layout and graph rules."""

import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from ae_zoo.export import (
    OUTPUT_NAMES,
    export_saved_model,
    find_forbidden_ops,
    next_version,
    signature_names,
    signature_specs,
)
from ae_zoo.export import saved_model as sm
from tests.export.helpers import EXTRA_CASES, LATENT, NUM_CLASSES, SHAPE, batch, make_model

ATOL = 1e-5
#: Every registered model's signatures are checked by the shared battery
#: (tests/battery.py: check_export); here the conv_unpool variants, whose encoders pass
#: pooling switches to the decoder, and the documented names of the signatures.
CASES = [case for case, _, _ in EXTRA_CASES]


def _call(loaded, signature, **inputs):
    fn = loaded.signatures[signature]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


def _expected(model, signature, b):
    """What the in-memory model gives for ``signature`` on batch ``b``."""
    labels = b["label"] if model.conditional else None
    if signature in ("serving_default", "reconstruct"):
        return {"reconstruction": model.reconstruct(b["x"], labels=labels)}
    if signature == "encode":
        out = {"code": model.encode(b["x"], labels=labels)}
        if model.posterior_type == "gaussian":
            mean, scale = model.encode(b["x"], labels=labels, return_distribution=True)
            out.update(z_mean=mean, z_log_var=2.0 * np.log(np.asarray(scale)))
        return out
    if signature == "decode":
        return {"reconstruction": model.decode(b["z"], labels=labels)}
    if signature == "sample":
        return {"image": model.sample(len(b["seed"]), seed=int(b["seed"][0]))}
    if signature == "generate":
        return {"image": model.generate(b["label"], seed=int(b["seed"][0]))}
    raise AssertionError(signature)


def _inputs(signature, spec, b):
    return {name: b[name] for name in spec["inputs"]}


@pytest.mark.parametrize("case", CASES)
def test_every_signature_equals_the_in_memory_model(case, exported):
    model, path = exported(case)
    specs = signature_specs(path)
    assert sorted(specs) == sorted(signature_names(model))
    assert os.path.basename(path) == "1" and os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))
    loaded = tf.saved_model.load(path)
    b = batch()
    for signature, spec in specs.items():
        # stable names: documented inputs, documented outputs, batch dimension None
        assert spec["method_name"] == "tensorflow/serving/predict"
        assert set(spec["inputs"]) <= {"x", "z", "seed", "label"}
        expected_outputs = set(OUTPUT_NAMES[signature])
        if signature == "encode" and model.posterior_type == "gaussian":
            expected_outputs |= {"z_mean", "z_log_var"}
        assert set(spec["outputs"]) == expected_outputs, signature
        for tensor in [*spec["inputs"].values(), *spec["outputs"].values()]:
            assert tensor["shape"][0] is None
        got = _call(loaded, signature, **_inputs(signature, spec, b))
        want = _expected(model, signature, b)
        assert set(got) == set(want)
        for key in want:
            np.testing.assert_allclose(got[key], np.asarray(want[key]), atol=ATOL, err_msg=f"{signature}/{key}")
    assert find_forbidden_ops(path) == []


@pytest.mark.parametrize("case", ["vae", "cvae"])
def test_seeds_are_stateless_and_independent_of_the_batch(case, exported):
    model, path = exported(case)
    loaded = tf.saved_model.load(path)
    name = "generate" if model.conditional else "sample"
    extra = {"label": np.array([1, 1, 1, 2], "int64")} if name == "generate" else {}
    seeds = np.array([7, 7, 8, 7], "int64")
    images = _call(loaded, name, seed=seeds, **extra)["image"]
    assert images.shape == (4, *SHAPE)
    np.testing.assert_array_equal(images[0], images[1])          # same seed, same image
    assert np.abs(images[0] - images[2]).max() > 1e-4            # another seed, another image
    if name == "generate":
        assert np.abs(images[0] - images[3]).max() > 1e-4        # same seed, another label
    else:
        np.testing.assert_array_equal(images[0], images[3])
    again = _call(loaded, name, seed=seeds, **extra)["image"]
    np.testing.assert_array_equal(images, again)                 # nothing advances between calls
    one = _call(loaded, name, seed=seeds[2:3], **{k: v[2:3] for k, v in extra.items()})["image"]
    np.testing.assert_allclose(one[0], images[2], atol=ATOL)     # a row does not depend on its batch
    if name == "sample":
        np.testing.assert_allclose(images[2], np.asarray(model.sample(1, seed=8))[0], atol=ATOL)


def test_conditional_signatures_reject_bad_labels(exported):
    model, path = exported("cvae")
    loaded = tf.saved_model.load(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        _call(loaded, "generate", label=np.array([NUM_CLASSES], "int64"), seed=np.array([0], "int64"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="one entry per row"):
        _call(loaded, "decode", z=np.zeros((2, LATENT), "float32"), label=np.array([0], "int64"))


def test_saved_model_cli_lists_every_signature_as_predict(exported):
    # One run (the CLI imports TensorFlow): the conditional VAE has the most varied
    # signatures; every family's method names are also checked in the test above.
    _, path = exported("cvae")
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        cli = shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli is not installed beside this Python")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([cli, "show", "--dir", str(path), "--all"], capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    blocks = {block.split("']")[0]: block for block in out.stdout.split("signature_def['")[1:]}
    expected = {"serving_default", "reconstruct", "encode", "decode", "generate"}
    assert expected <= set(blocks), out.stdout
    for name in expected:
        assert "Method name is: tensorflow/serving/predict" in blocks[name], blocks[name]
        assert "inputs['label'] tensor_info:" in blocks[name]
        assert "shape: (-1" in blocks[name]
    assert "inputs['x'] tensor_info:" in blocks["encode"]
    assert all(f"outputs['{k}'] tensor_info:" in blocks["encode"] for k in ("code", "z_mean", "z_log_var"))
    assert "inputs['seed'] tensor_info:" in blocks["generate"] and "DT_INT64" in blocks["generate"]
    assert "outputs['image'] tensor_info:" in blocks["generate"]


def test_tfsm_layer_encode_inside_a_new_functional_model(exported):
    model, path = exported("vae")
    inputs = keras.Input(shape=SHAPE)
    codes = keras.layers.TFSMLayer(path, call_endpoint="encode")(inputs)
    assert set(codes) == {"code", "z_mean", "z_log_var"}
    x = batch()["x"]
    encoder = keras.Model(inputs, codes["code"])
    np.testing.assert_allclose(encoder.predict(x, verbose=0), np.asarray(model.encode(x)), atol=ATOL)
    # a classifier head on the frozen pretrained codes trains as any Keras model
    # (trainable=False: Keras 3.15 cannot build optimizer slots for the restored
    # variables, whose names end in ":0")
    frozen = keras.layers.TFSMLayer(path, call_endpoint="encode", trainable=False)(inputs)
    classifier = keras.Model(inputs, keras.layers.Dense(3, name="head")(frozen["code"]))
    classifier.compile(optimizer="adam",
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = classifier.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert classifier.predict(x, verbose=0).shape == (len(x), 3)
    assert len(classifier.trainable_weights) == 2  # the head only


def test_weights_are_stored_once(exported):
    # ExportArchive.track(model) would store each weight twice (Keras variable + tf.Variable)
    model, path = exported("vae_conv_unpool")
    data = sum(os.path.getsize(os.path.join(path, "variables", f))
               for f in os.listdir(os.path.join(path, "variables")) if f.startswith("variables.data"))
    weights = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    assert weights <= data < 1.3 * weights + 4096


# ---------------------------------------------------------------- graph check
def _module_with(kind):
    """A module whose one signature has one kind of op TF Serving should not get."""
    module = tf.Module()
    spec = [tf.TensorSpec([None], tf.float32)]
    if kind == "stateful_random":
        fn = tf.function(lambda x: {"y": x + tf.random.normal(tf.shape(x))}, input_signature=spec)
    elif kind == "xla":
        fn = tf.function(lambda x: {"y": x * 2.0}, input_signature=spec, jit_compile=True)
    elif kind == "py_function":
        fn = tf.function(lambda x: {"y": tf.py_function(lambda t: t, [x], tf.float32)},
                         input_signature=spec)
    elif kind == "generator_draw":
        module.generator = tf.random.Generator.from_seed(1)
        fn = tf.function(lambda x: {"y": x + module.generator.normal(tf.shape(x))}, input_signature=spec)
    elif kind == "seed_generator_draw":  # stateless op, but the seed state is advanced
        seed = keras.random.SeedGenerator(1)
        module.seed_state = seed.state.value  # tracked, so it can be saved
        fn = tf.function(lambda x: {"y": x + keras.random.normal(tf.shape(x), seed=seed)},
                         input_signature=spec)
    else:
        fn = tf.function(lambda x: {"y": x + tf.random.stateless_normal(tf.shape(x), seed=[1, 2])},
                         input_signature=spec)
    module.fn = fn
    return module


@pytest.mark.parametrize("kind, expected", [
    ("stateful_random", "stateful random op RandomStandardNormal"),
    ("xla", "XLA attribute _XlaMustCompile"),
    ("py_function", "Python function op EagerPyFunc"),
    ("generator_draw", "stateful random op RngReadAndSkip"),
    ("seed_generator_draw", "variable write AssignVariableOp in signature 'serving_default'"),
    ("stateless", None),
])
def test_graph_check_finds_each_forbidden_kind(tmp_path, kind, expected):
    module = _module_with(kind)
    path = str(tmp_path / kind)
    tf.saved_model.save(module, path, signatures={"serving_default": module.fn})
    problems = find_forbidden_ops(path)
    if expected is None:
        assert problems == []
        sm.check_serving_graph(path)
        return
    assert any(expected in p for p in problems), problems
    with pytest.raises(ValueError, match="cannot run"):
        sm.check_serving_graph(path)


# ------------------------------------------------------------------- versions
def test_versions_count_up_and_ignore_hidden_directories(tmp_path):
    model = make_model("ae")
    base = tmp_path / "ae"
    assert next_version(base) == 1
    assert export_saved_model(model, base, warmup=False).endswith(os.sep + "1")
    os.makedirs(base / ".export-leftover" / "variables")  # ignored, as TF Serving does
    assert export_saved_model(model, base, warmup=False).endswith(os.sep + "2")
    assert export_saved_model(model, base, version=7, warmup=False).endswith(os.sep + "7")
    assert next_version(base) == 8
    with pytest.raises(ValueError, match="already exists"):
        export_saved_model(model, base, version=2, warmup=False)
    with pytest.raises(ValueError, match="non-negative integer"):
        export_saved_model(model, base, version=-1, warmup=False)
    # not mkdtemp's 0700: a server running as another user can read it
    assert os.stat(base / "7").st_mode & 0o777 == 0o777 & ~sm._umask()


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_interrupted_export_leaves_no_numeric_version(tmp_path, monkeypatch, error):
    model = make_model("vae")
    archive_cls = type(keras.export.ExportArchive())
    original = archive_cls.write_out

    def write_part_then_fail(self, filepath, options=None, verbose=True):
        original(self, filepath, options=options, verbose=False)  # everything written...
        os.remove(os.path.join(filepath, "variables", "variables.index"))  # ...then torn
        raise error

    monkeypatch.setattr(archive_cls, "write_out", write_part_then_fail)
    base = tmp_path / "vae"
    with pytest.raises(type(error)):
        export_saved_model(model, base, warmup=False)
    assert os.listdir(base) == []  # no version, no temporary directory
    monkeypatch.undo()
    assert export_saved_model(model, base, warmup=False).endswith(os.sep + "1")


def test_a_forbidden_graph_is_not_published(tmp_path, monkeypatch):
    model = make_model("ae")
    monkeypatch.setattr(sm, "find_forbidden_ops", lambda path: ["stateful random op RandomUniform"])
    with pytest.raises(ValueError, match="RandomUniform"):
        export_saved_model(model, tmp_path / "ae", warmup=False)
    assert os.listdir(tmp_path / "ae") == []


def test_bad_models_fail_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match="Expected an ae_zoo model, got Sequential"):
        export_saved_model(keras.Sequential([keras.layers.Dense(2)]), tmp_path / "x")
    from ae_zoo import models

    with pytest.raises(ValueError, match="input_shape"):
        export_saved_model(models.create("ae", latent_dim=2), tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# -------------------------------------------------------------------- warm-up
def test_warmup_requests_one_per_signature(exported):
    if not sm.warmup_available():
        pytest.skip("tensorflow-serving-api is not installed (pip install 'ae_zoo[serving]')")
    for case in ("vae", "cvae"):
        model, path = exported(case)
        assert os.path.isfile(os.path.join(path, sm.WARMUP_FILE))
        requests = sm.read_warmup_requests(path)
        assert sorted(sig for sig, _ in requests) == sorted(signature_names(model))
        loaded = tf.saved_model.load(path)
        for sig, inputs in requests:  # every request is valid for its signature
            out = _call(loaded, sig, **inputs)
            assert set(out) >= set(OUTPUT_NAMES[sig])


def test_warmup_false_writes_none_and_true_requires_the_package(tmp_path, monkeypatch):
    model = make_model("ae")
    path = export_saved_model(model, tmp_path / "ae", warmup=False)
    assert not os.path.exists(os.path.join(path, sm.WARMUP_FILE))
    # every version records what the model declares, beside the graph
    assert sm.read_model_info(path) == {"capabilities": model.capabilities(), "class": "Autoencoder",
                                        "model": "ae", "latent_dim": LATENT, "input_range": [0.0, 1.0],
                                        "sampler": None}
    monkeypatch.setattr(sm, "warmup_available", lambda: False)
    with pytest.raises(ImportError, match="serving"):
        export_saved_model(model, tmp_path / "ae", warmup=True)
