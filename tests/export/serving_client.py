"""A small TF Serving REST client for the tests, and an in-process stand-in server.

The client builds ``:predict`` requests in row (``"instances"``) and columnar
(``"inputs"``) format and parses the answers as TF Serving documents them
(tensorflow_serving/g3doc/api_rest.md): with one named output the name is left
out (``"predictions": [...]``, ``"outputs": [...]``); with several, rows are
objects and columns a map. :func:`check_model` runs every check against a base
URL; the integration test points it at a real ``tensorflow_model_server`` and
the stand-in (:class:`StandInServer`, the same REST shapes answered by the
SavedModel in this process) lets the client code itself be tested here.
"""

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

PREDICT_METHOD = "tensorflow/serving/predict"


# ------------------------------------------------------------------ requests
def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def row_request(signature, inputs):
    """``{"signature_name", "instances": [{input: value}, ...]}``: one object per example."""
    arrays = {k: np.asarray(v) for k, v in inputs.items()}
    n = len(next(iter(arrays.values())))
    instances = [{k: a[i].tolist() for k, a in arrays.items()} for i in range(n)]
    return {"signature_name": signature, "instances": instances}


def columnar_request(signature, inputs):
    """``{"signature_name", "inputs": {input: [values of the batch]}}``."""
    return {"signature_name": signature, "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}


def parse_row_response(body, output_names):
    """``{output: numpy}`` from a row-format answer ``{"predictions": ...}``."""
    predictions = body["predictions"]
    if len(output_names) == 1:
        (name,) = output_names
        if predictions and isinstance(predictions[0], dict):  # tolerate a named single output
            return {name: np.asarray([p[name] for p in predictions], "float32")}
        return {name: np.asarray(predictions, "float32")}
    return {k: np.asarray([p[k] for p in predictions], "float32") for k in output_names}


def parse_columnar_response(body, output_names):
    """``{output: numpy}`` from a columnar answer ``{"outputs": ...}``."""
    outputs = body["outputs"]
    if isinstance(outputs, dict):
        return {k: np.asarray(outputs[k], "float32") for k in output_names}
    (name,) = output_names
    return {name: np.asarray(outputs, "float32")}


def http_json(url, payload=None, timeout=30.0):
    """GET (no payload) or POST JSON; returns the decoded answer, raises RuntimeError on HTTP errors."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"{url}: HTTP {err.code}: {err.read().decode('utf-8', 'replace')}") from None


def predict(base_url, model_name, signature, inputs, output_names, columnar=False):
    """POSTs ``inputs`` to ``:predict`` and returns ``{output: numpy}``."""
    url = f"{base_url}/v1/models/{model_name}:predict"
    if columnar:
        return parse_columnar_response(http_json(url, columnar_request(signature, inputs)), output_names)
    return parse_row_response(http_json(url, row_request(signature, inputs)), output_names)


def wait_until_available(base_url, model_name, timeout=90.0, process=None):
    """Polls the model status until a version is AVAILABLE; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before {model_name} "
                               "was available")
        try:
            status = http_json(f"{base_url}/v1/models/{model_name}", timeout=5)
            states = [v.get("state") for v in status.get("model_version_status", [])]
            if "AVAILABLE" in states:
                return status
            last = states
        except (OSError, RuntimeError, ValueError) as err:  # not listening yet, or not loaded yet
            last = err
        time.sleep(0.5)
    raise TimeoutError(f"{model_name} not available at {base_url} after {timeout} s (last: {last})")


def _signature_defs(metadata):
    """The ``{name: SignatureDef}`` map of a ``/metadata`` answer."""
    node = metadata["metadata"]["signature_def"]
    return node.get("signature_def", node)


def check_metadata(base_url, model_name, specs):
    """``/metadata`` lists every exported signature, as a predict method, with its inputs and outputs."""
    metadata = http_json(f"{base_url}/v1/models/{model_name}/metadata")
    assert metadata["model_spec"]["name"] == model_name
    defs = _signature_defs(metadata)
    for name, spec in specs.items():
        assert name in defs, f"/metadata lacks {name}: {sorted(defs)}"
        sig = defs[name]
        assert sig.get("method_name", sig.get("methodName")) == PREDICT_METHOD
        assert set(sig["inputs"]) == set(spec["inputs"]), name
        assert set(sig["outputs"]) == set(spec["outputs"]), name
        for key, tensor in sig["inputs"].items():
            expected = "DT_INT64" if spec["inputs"][key]["dtype"] == "int64" else "DT_FLOAT"
            assert tensor["dtype"] == expected
    return defs


def check_model(base_url, model_name, export_dir, inputs_by_signature, atol=1e-5):
    """Every signature, in row and columnar format, answers what the SavedModel computes
    in this process; ``/metadata`` lists them all. Returns the answers checked."""
    import tensorflow as tf

    from ae_zoo.export import signature_specs

    specs = signature_specs(export_dir)
    check_metadata(base_url, model_name, specs)
    loaded = tf.saved_model.load(export_dir)
    checked = {}
    for signature, spec in specs.items():
        inputs = {k: inputs_by_signature[signature][k] for k in spec["inputs"]}
        expected = {k: v.numpy() for k, v in loaded.signatures[signature](
            **{k: tf.constant(v) for k, v in inputs.items()}).items()}
        outputs = sorted(spec["outputs"])
        for columnar in (False, True):
            got = predict(base_url, model_name, signature, inputs, outputs, columnar=columnar)
            assert set(got) == set(expected), signature
            for key in expected:
                np.testing.assert_allclose(got[key], expected[key], atol=atol,
                                           err_msg=f"{signature}/{key} columnar={columnar}")
            checked[(signature, columnar)] = got
    return checked


# ------------------------------------------------------------ stand-in server
class StandInServer:
    """Serves ``{model name: version dir}`` over TF Serving's REST paths, in this process.

    Answers ``GET /v1/models/NAME``, ``GET /v1/models/NAME/metadata`` and
    ``POST /v1/models/NAME:predict`` (row and columnar), with the documented JSON
    shapes, by running the SavedModel's signatures. For testing the client only.
    """

    def __init__(self, models, port=None):
        import tensorflow as tf
        from google.protobuf import json_format

        from ae_zoo.export.saved_model import read_saved_model_proto

        self.models = {}
        for name, path in models.items():
            proto = read_saved_model_proto(path)
            signature_map = {k: json_format.MessageToDict(v, preserving_proto_field_name=True)
                             for k, v in proto.meta_graphs[0].signature_def.items()}
            self.models[name] = (tf.saved_model.load(path), signature_map, path)
        self.port = port or free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def _predict(self, name, body):
        import tensorflow as tf

        loaded, signature_map, _ = self.models[name]
        signature = body.get("signature_name") or "serving_default"
        fn = loaded.signatures[signature]
        input_names = sorted(signature_map[signature]["inputs"])
        dtypes = {k: v["dtype"] for k, v in signature_map[signature]["inputs"].items()}
        if "instances" in body:
            rows = body["instances"]
            if rows and not isinstance(rows[0], dict):  # a single unnamed input
                rows = [{input_names[0]: r} for r in rows]
            columns = {k: [r[k] for r in rows] for k in input_names}
        else:
            columns = body["inputs"]
            if not isinstance(columns, dict):
                columns = {input_names[0]: columns}
        tensors = {k: tf.constant(np.asarray(v, "int64" if dtypes[k] == "DT_INT64" else "float32"))
                   for k, v in columns.items()}
        outputs = {k: v.numpy().tolist() for k, v in fn(**tensors).items()}
        if "instances" in body:
            if len(outputs) == 1:
                return {"predictions": next(iter(outputs.values()))}
            n = len(next(iter(outputs.values())))
            return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(n)]}
        return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code, payload):
                data = json.dumps(payload).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                parts = self.path.strip("/").split("/")
                if len(parts) < 3 or parts[:2] != ["v1", "models"] or parts[2] not in server.models:
                    return self._send(404, {"error": f"Servable not found for request: {self.path}"})
                name = parts[2]
                if parts[3:] == ["metadata"]:
                    return self._send(200, {
                        "model_spec": {"name": name, "signature_name": "", "version": "1"},
                        "metadata": {"signature_def": {"signature_def": server.models[name][1]}}})
                return self._send(200, {"model_version_status": [
                    {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})

            def do_POST(self):  # noqa: N802
                path = self.path.strip("/")
                prefix = "v1/models/"
                if not (path.startswith(prefix) and path.endswith(":predict")):
                    return self._send(404, {"error": f"Malformed request: {self.path}"})
                name = path[len(prefix):-len(":predict")]
                if name not in server.models:
                    return self._send(404, {"error": f"Servable not found for request: Latest({name})"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    return self._send(200, server._predict(name, body))
                except Exception as err:  # noqa: BLE001
                    return self._send(400, {"error": str(err)})

        return Handler
