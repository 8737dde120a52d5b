"""TF Serving over REST: a real tensorflow_model_server when installed, and the client itself.

The real-server test needs ``tensorflow_model_server`` on PATH (the TF Serving
binary, e.g. from the ``tensorflow-model-server`` apt package); it is skipped
otherwise. The same client code is always exercised against an in-process
stand-in that answers with TF Serving's documented REST shapes.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

from ae_zoo.export import signature_specs, write_serving_config
from tests.export.helpers import batch
from tests.export.serving_client import (
    StandInServer,
    check_model,
    free_port,
    parse_columnar_response,
    parse_row_response,
    row_request,
    wait_until_available,
)

SERVER = shutil.which("tensorflow_model_server")
MODELS = {"vae_tiny": "vae", "cvae_tiny": "cvae"}


def _inputs():
    """Inputs for every signature, three examples each."""
    b = batch(3)
    return {sig: b for sig in ("serving_default", "reconstruct", "encode", "decode", "sample", "generate")}


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    """A models folder with a VAE and a conditional VAE, and its models.config."""
    root = tmp_path_factory.mktemp("served")
    for name, case in MODELS.items():
        shutil.copytree(exported(case)[1], root / name / "1")
    config, names = write_serving_config(root)
    assert names == sorted(MODELS)
    return root, config


def test_client_helpers_follow_the_documented_rest_shapes():
    request = row_request("sample", {"seed": np.array([3, 4], "int64")})
    assert request == {"signature_name": "sample", "instances": [{"seed": 3}, {"seed": 4}]}
    # one named output: the name is left out
    assert parse_row_response({"predictions": [[0.5], [1.5]]}, ["image"])["image"].shape == (2, 1)
    assert parse_columnar_response({"outputs": [[0.5], [1.5]]}, ["image"])["image"].shape == (2, 1)
    # several: rows are objects, columns a map
    rows = {"predictions": [{"code": [1.0], "z_mean": [1.0], "z_log_var": [0.0]},
                            {"code": [2.0], "z_mean": [2.0], "z_log_var": [0.1]}]}
    parsed = parse_row_response(rows, ["code", "z_log_var", "z_mean"])
    np.testing.assert_allclose(parsed["code"], [[1.0], [2.0]])
    cols = {"outputs": {"code": [[1.0]], "z_mean": [[1.0]], "z_log_var": [[0.0]]}}
    assert parse_columnar_response(cols, ["code", "z_log_var", "z_mean"])["z_mean"].shape == (1, 1)


def test_rest_client_against_the_in_process_stand_in(served):
    root, _ = served
    with StandInServer({name: str(root / name / "1") for name in MODELS}) as server:
        for name in MODELS:
            wait_until_available(server.base_url, name, timeout=10)
            checked = check_model(server.base_url, name, str(root / name / "1"), _inputs())
            specs = signature_specs(str(root / name / "1"))
            assert set(checked) == {(sig, columnar) for sig in specs for columnar in (False, True)}
        with pytest.raises(TimeoutError):
            wait_until_available(server.base_url, "no_such_model", timeout=1)


@pytest.mark.skipif(SERVER is None, reason="tensorflow_model_server is not on PATH (install TF Serving "
                                           ">= the exporting TensorFlow version to run this test)")
def test_real_tf_serving_answers_every_signature(served, tmp_path):
    root, config = served
    grpc_port, rest_port = free_port(), free_port()
    while rest_port == grpc_port:
        rest_port = free_port()
    log_path = tmp_path / "tensorflow_model_server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [SERVER, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
             f"--model_config_file={config}"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"})
        try:
            base_url = f"http://127.0.0.1:{rest_port}"
            for name in MODELS:
                wait_until_available(base_url, name, timeout=120, process=process)
            for name in MODELS:
                check_model(base_url, name, str(root / name / "1"), _inputs())
        except Exception as err:
            log.flush()
            raise AssertionError(f"{err}\n--- server log ---\n{log_path.read_text()[-4000:]}") from err
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
