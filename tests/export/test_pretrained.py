"""load_pretrained: names and paths, numpy in and out, clear errors, and the shipped zoo."""

import json
import os
import re
import shutil

import numpy as np
import pytest

import ae_zoo
from ae_zoo.export import available, load_pretrained, make_card, write_card, zoo_dir
from ae_zoo.export import pretrained as pretrained_lib
from tests.export.helpers import LATENT, NUM_CLASSES, SHAPE, batch

ATOL = 1e-5


def _add_to_zoo(zoo, name, model, version_dir, version=1):
    """Copies an export into ``zoo/name/<version>`` and writes its card."""
    folder = zoo / name
    target = folder / str(version)
    shutil.copytree(version_dir, target)
    write_card(folder, make_card(name, model, str(target)))
    return folder


@pytest.fixture
def zoo(tmp_path, monkeypatch, exported):
    """A zoo with an ae, a vae and a cvae, selected through AE_ZOO_SAVED_MODELS."""
    root = tmp_path / "zoo"
    root.mkdir()
    models = {}
    for case in ("ae", "vae", "cvae"):
        model, path = exported(case)
        _add_to_zoo(root, f"{case}_tiny", model, path)
        models[case] = model
    monkeypatch.setenv(pretrained_lib.ENV_VAR, str(root))
    return root, models


def test_names_resolve_in_the_zoo_and_methods_match_the_model(zoo):
    root, models = zoo
    assert available() == ["ae_tiny", "cvae_tiny", "vae_tiny"]
    b = batch(5)

    ae = ae_zoo.load_pretrained("ae_tiny")
    assert type(ae).__name__ == "PretrainedModel"
    assert not ae.generative and not ae.conditional and ae.posterior_type is None
    with pytest.raises(TypeError, match="not generative"):
        ae.sample(2, seed=0)
    assert ae.path == str(root / "ae_tiny" / "1") and ae.version == 1
    assert ae.card["name"] == "ae_tiny" and ae.card["class"] == "Autoencoder"
    assert sorted(ae.signatures) == ["decode", "encode", "reconstruct", "serving_default"]
    assert ae.example_shape == SHAPE and ae.latent_dim == LATENT
    np.testing.assert_allclose(ae.reconstruct(b["x"]), models["ae"].reconstruct(b["x"]), atol=ATOL)
    np.testing.assert_allclose(ae.encode(b["x"]), models["ae"].encode(b["x"]), atol=ATOL)
    np.testing.assert_allclose(ae.decode(b["z"]), models["ae"].decode(b["z"]), atol=ATOL)

    vae = load_pretrained("vae_tiny")
    assert vae.generative and not vae.conditional and vae.posterior_type == "gaussian"
    assert vae.capabilities() == {**models["vae"].capabilities(), "has_likelihood": False}
    assert isinstance(vae.sample(3, seed=4), np.ndarray)
    np.testing.assert_allclose(vae.sample(3, seed=4), models["vae"].sample(3, seed=4), atol=ATOL)
    out = vae.encode(b["x"], return_all=True)
    assert set(out) == {"code", "z_mean", "z_log_var"}
    np.testing.assert_allclose(out["code"], models["vae"].encode(b["x"]), atol=ATOL)

    cvae = load_pretrained("cvae_tiny")
    assert cvae.conditional and cvae.num_classes == NUM_CLASSES
    cm = models["cvae"]
    np.testing.assert_allclose(cvae.generate(b["label"], seed=2), cm.generate(b["label"], seed=2), atol=ATOL)
    np.testing.assert_allclose(cvae.sample(4, seed=2), cm.sample(4, seed=2), atol=ATOL)
    for method, main in (("reconstruct", "x"), ("encode", "x"), ("decode", "z")):
        np.testing.assert_allclose(getattr(cvae, method)(b[main], labels=b["label"]),
                                   getattr(cm, method)(b[main], labels=b["label"]), atol=ATOL)


def test_batching_single_examples_and_bad_inputs(zoo):
    _, models = zoo
    vae = load_pretrained("vae_tiny")
    x = batch(7)["x"]
    whole = vae.reconstruct(x)
    np.testing.assert_allclose(vae.reconstruct(x, batch_size=3), whole, atol=ATOL)
    assert vae.reconstruct(x[0]).shape == (1, *SHAPE)  # one example without a batch axis
    assert vae.reconstruct(x.astype("float64").tolist()).dtype == np.float32
    with pytest.raises(ValueError, match="positive integer"):
        vae.sample(0, seed=0)
    with pytest.raises(ValueError, match=r"seed"):
        vae.sample(2, seed=2**63)
    with pytest.raises(ValueError, match=r"example shape \(9, 9, 1\)"):
        vae.reconstruct(np.zeros((2, 9, 9, 1), "float32"))
    # the wrapper checks its inputs as the in-memory model does, with the same messages
    in_memory = models["vae"]
    for bad in ((x * 255).astype("uint8"), np.full_like(x, np.nan)):
        with pytest.raises((TypeError, ValueError)) as wrapped:
            vae.reconstruct(bad)
        with pytest.raises(type(wrapped.value)) as direct:
            in_memory.reconstruct(bad)
        assert str(wrapped.value) == str(direct.value)
    cvae = load_pretrained("cvae_tiny")
    with pytest.raises(ValueError, match="2 entries for 7 examples"):
        cvae.reconstruct(x, labels=[0, 1])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cvae.generate([0, 3])
    with pytest.raises(TypeError, match="integer"):
        cvae.generate([0.5, 1.0])
    with pytest.raises(ValueError, match="not conditional"):
        vae.encode(x, labels=[0] * 7)


def test_paths_versions_and_the_highest_version(zoo, exported, tmp_path):
    root, _ = zoo
    model, path = exported("vae")
    shutil.copytree(path, root / "vae_tiny" / "3")
    os.makedirs(root / "vae_tiny" / ".export-abc")  # an export in progress is ignored
    assert load_pretrained("vae_tiny").path.endswith(os.sep + "3")
    assert load_pretrained("vae_tiny", version=1).version == 1
    assert load_pretrained(str(root / "vae_tiny")).version == 3        # a model folder
    assert load_pretrained(root / "vae_tiny" / "1").version == 1       # a version directory
    with pytest.raises(FileNotFoundError, match="no version 2"):
        load_pretrained("vae_tiny", version=2)
    bare = tmp_path / "bare"
    shutil.copytree(path, bare / "1")  # export_saved_model output without a card
    with pytest.raises(FileNotFoundError, match="card.json"):
        load_pretrained(bare)
    assert load_pretrained(bare, require_card=False).card == {}
    with pytest.raises(FileNotFoundError, match="No model folder"):
        load_pretrained("./no/such/folder")


def test_unknown_names_list_the_available_ones(zoo):
    with pytest.raises(ValueError, match="Unknown pretrained model 'vea_tiny'; available: ae_tiny, "
                                         "cvae_tiny, vae_tiny"):
        load_pretrained("vea_tiny")


def test_an_empty_zoo_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained_lib.ENV_VAR, str(tmp_path))
    assert available() == []
    with pytest.raises(ValueError, match="available: none"):
        load_pretrained("vae_mnist5k")


@pytest.mark.parametrize("damage, message", [
    (lambda f: os.remove(f / "1" / "saved_model.pb"), "saved_model.pb"),
    (lambda f: shutil.rmtree(f / "1" / "variables"), "variables/"),
    (lambda f: os.remove(f / "1" / "variables" / "variables.index"), "variables/"),
    (lambda f: os.remove(f / "card.json"), "card.json"),
    (lambda f: shutil.move(str(f / "1"), str(f / "v1")), "no numeric version"),
], ids=["no_saved_model_pb", "no_variables_dir", "no_variables_index", "no_card", "no_version"])
def test_incomplete_folders_name_what_is_missing(zoo, damage, message):
    root, _ = zoo
    damage(root / "vae_tiny")
    with pytest.raises(FileNotFoundError, match=message) as info:
        load_pretrained("vae_tiny")
    assert str(root / "vae_tiny") in str(info.value)


def test_corrupted_files_get_a_clear_error(zoo):
    root, _ = zoo
    (root / "ae_tiny" / "card.json").write_text("{not json")
    with pytest.raises(ValueError, match="Corrupted .*card.json"):
        load_pretrained("ae_tiny")
    (root / "vae_tiny" / "1" / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="Could not load the SavedModel"):
        load_pretrained("vae_tiny")


@pytest.mark.parametrize("key, value", [("metrics", "good"), ("seed", [1]), ("version", "1"),
                                        ("version", True), ("input_shape", 8),
                                        ("metrics", {"test_elbo": "high"})])
def test_a_card_with_wrong_types_is_refused_naming_the_key(zoo, key, value):
    root, _ = zoo
    path = root / "ae_tiny" / "card.json"
    card = json.loads(path.read_text())
    if isinstance(value, dict):
        key, value = "metrics.test_elbo", value["test_elbo"]
        card["metrics"]["test_elbo"] = value
    else:
        card[key] = value
    path.write_text(json.dumps(card))
    message = re.escape(f"Corrupted {path}: '{key}' must be ") + ".*" + re.escape(f", got {value!r}.")
    with pytest.raises(ValueError, match=message):
        load_pretrained("ae_tiny")


def test_zoo_dir_prefers_the_environment_then_the_package_then_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv(pretrained_lib.ENV_VAR, str(tmp_path))
    assert zoo_dir() == str(tmp_path)
    monkeypatch.delenv(pretrained_lib.ENV_VAR)
    found = zoo_dir()
    package = os.path.dirname(os.path.abspath(ae_zoo.__file__))
    if found is not None:
        assert found in (os.path.join(package, "_pretrained"),
                         os.path.join(os.path.dirname(package), "saved_models")) or found.endswith(
                             ("_pretrained", "saved_models"))


# --------------------------------------------------------------- the shipped zoo
def _shipped():
    directory = os.environ.get(pretrained_lib.ENV_VAR) or zoo_dir()
    return available(directory)


SHIPPED = _shipped()
# The issues' size budget for the whole folder (SavedModels, cards and .keras presets).
ZOO_BUDGET_BYTES = 60 * 1024 * 1024


if SHIPPED:
    @pytest.mark.parametrize("name", SHIPPED)
    def test_shipped_model_loads_and_matches_its_card(name):
        model = load_pretrained(name)
        card = model.card
        for key in ("name", "model", "recipe", "command", "dataset", "split", "epochs", "seed",
                    "metrics", "signatures", "versions"):
            assert key in card, f"{name}/card.json lacks {key!r}"
        assert card["name"] == name
        assert os.path.isfile(os.path.join(os.path.dirname(model.path), "README.md"))
        assert set(card["signatures"]) == set(model.signatures)
        test = ae_zoo.data.load(card["dataset"], card["split"]["test"], **(card.get("data_options") or {}))
        recon = model.reconstruct(test.x, labels=test.y if model.conditional else None)
        mse = float(np.mean((recon - test.x) ** 2))
        assert mse == pytest.approx(card["metrics"]["test_reconstruction_mse"], rel=1e-3, abs=1e-5)
        if model.generative:
            assert "test_elbo" in card["metrics"] and "test_iwae_nll" in card["metrics"]
            if model.conditional:
                assert model.generate([0, 1], seed=0).shape == (2, *model.example_shape)
            else:
                assert model.sample(2, seed=0).shape == (2, *model.example_shape)

    def test_the_shipped_zoo_fits_its_size_budget():
        total = 0
        for root, _, files in os.walk(zoo_dir()):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        assert total < ZOO_BUDGET_BYTES, f"saved_models/ is {total / 2**20:.1f} MB"
else:
    def test_no_shipped_models_yet_and_the_loader_says_so():
        # saved_models/ is empty (or absent): names list nothing and loading explains why.
        assert _shipped() == []
        with pytest.raises(ValueError, match="available: none"):
            load_pretrained("vae_mnist5k")


def test_card_json_is_plain_json(zoo):
    root, _ = zoo
    card = json.loads((root / "cvae_tiny" / "card.json").read_text())
    assert card["capabilities"]["conditional"] and card["num_classes"] == NUM_CLASSES
    assert card["signatures"]["generate"]["inputs"]["seed"] == {"dtype": "int64", "shape": [None]}
    readme = (root / "cvae_tiny" / "README.md").read_text()
    assert "`generate`" in readme and "TensorFlow" in readme


def test_the_wrapper_checks_inputs_as_the_in_memory_model(exported):
    model, path = exported("vae")
    loaded = load_pretrained(path, require_card=False)
    x = np.random.default_rng(0).uniform(size=(3, *model.example_shape)).astype("float32")
    bad = {"uint8": (x * 255).astype("uint8"), "0-255": x * 255, "nan": np.where(x > 0.9, np.nan, x),
           "shape": x[:, :4]}
    for what, value in bad.items():
        messages = []
        for m in (model, loaded):
            with pytest.raises((TypeError, ValueError)) as err:
                m.reconstruct(value)
            messages.append((type(err.value), str(err.value)))
        assert messages[0] == messages[1], what
