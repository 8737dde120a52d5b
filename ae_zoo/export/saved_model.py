"""SavedModel export in the TF Serving layout, and the check that TF Serving can run it.

``export_saved_model(model, "exports/vae_mnist5k")`` writes
``exports/vae_mnist5k/<version>/saved_model.pb`` and ``variables/`` through
``keras.export.ExportArchive``. The version is written to a hidden temporary
directory inside the base directory (TF Serving ignores non-numeric names) and
renamed to its number when complete, so a server never sees half an export.

The signatures are the ones the model declares (:mod:`ae_zoo.models.serving`):
``serving_default`` (the same function as ``reconstruct``), ``reconstruct``, ``encode``
and ``decode`` for every model, ``sample`` for one that can sample (a generative model,
or any model with a sampler attached: its fitted parameters are baked into the graph;
``generate`` when it is conditional), and whatever else a model adds. Every one returns a dict; the batch
dimension is ``None`` everywhere; ``x`` is float32 ``[batch, *image_shape]`` in [0, 1],
``z`` float32 ``[batch, latent_dim]``, ``seed`` and ``label`` int64 ``[batch]``. For a
Gaussian posterior ``encode`` also gives ``z_mean`` (``== code``) and ``z_log_var``
(log sigma^2 of q(z|x)). ``sample`` decodes one image per seed exactly as
``model.sample`` draws image ``i`` (``model.sample(n, seed=s)`` equals
``sample(seed=[s, ..., s+n-1])``), so a batch of seeds works in TF Serving's row format
and concurrent requests cannot interfere. The ``conv_unpool`` architecture's ``decode``
uses fixed switches (the switches are internal to ``reconstruct``), as ``model.decode``
does.

The graphs hold no XLA-compiled function, no ``py_function`` and no stateful
random op (:func:`find_forbidden_ops` checks every function of the SavedModel;
``export_saved_model`` refuses to publish a version that fails it).
"""

import os
import re
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from ae_zoo._io import exchange_paths, process_alive, read_json, refuse_to_replace, write_json
from ae_zoo._zoo import EXPORT_PREFIX, numeric_versions, restore_set_aside, set_aside
from ae_zoo.models.preset import KERAS_FILE

#: Stable input names of the exported signatures.
INPUT_NAMES = ("x", "z", "seed", "label")
#: Signature name -> its output names (a Gaussian posterior's ``encode`` adds z_mean, z_log_var).
OUTPUT_NAMES = {
    "serving_default": ("reconstruction",),
    "reconstruct": ("reconstruction",),
    "encode": ("code",),
    "decode": ("reconstruction",),
    "sample": ("image",),
    "generate": ("image",),
}
PREDICT_METHOD = "tensorflow/serving/predict"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
#: What the exported model declares (capabilities, class, registered name, classes, a
#: denoising model's corruption), written beside the graph so that every version describes
#: itself; TF Serving ignores it.
MODEL_INFO_FILE = os.path.join("assets.extra", "ae_zoo_model.json")


# ------------------------------------------------------------------ signatures
def signature_names(model):
    """The signatures ``export_saved_model`` writes for ``model``, in order."""
    return ["serving_default", *model.serving_functions()]


def _ensure_built(model):
    """Runs one zero batch through an unbuilt model so every variable exists."""
    shape = model.example_shape
    if shape is None:
        raise ValueError(
            "The model is not built and has no `input_shape`: train it, call it on a batch, "
            "or create it with `input_shape=` before exporting."
        )
    if model.built and model.encoder is not None and model.encoder.built:
        return
    labels = np.zeros((1,), "int64") if model.conditional else None
    model.reconstruct(np.zeros((1, *shape), "float32"), labels=labels)


def serving_functions(model):
    """``{signature: (fn, input_signature)}``: the functions ``export_saved_model`` traces,
    as the model declares them (:meth:`ae_zoo.models.Autoencoder.serving_functions`)."""
    if not callable(getattr(model, "serving_functions", None)):
        raise TypeError(f"Expected an ae_zoo model, got {type(model).__name__}.")
    _ensure_built(model)
    return model.serving_functions()


def model_info(model):
    """What an export records of the model it came from (:data:`MODEL_INFO_FILE`)."""
    info = {"capabilities": model.capabilities(), "class": type(model).__name__,
            "model": model.registry_name, "latent_dim": int(model.latent_dim),
            "input_range": model.input_range(), "sampler": model.sampler_name}
    if model.conditional:
        info["num_classes"] = int(model.num_classes)
    corruption = getattr(model, "corruption", None) if model.denoising else None
    if isinstance(corruption, keras.layers.Layer):  # not in the graph: for the figures
        info["corruption"] = keras.saving.serialize_keras_object(corruption)
    return info


def build_archive(model):
    """A ``keras.export.ExportArchive`` of ``model`` with every serving signature.

    ``reconstruct`` is registered first, so ExportArchive also publishes it as
    ``serving_default``. The model is not ``track()``-ed: ExportArchive saves the
    variables the endpoints use on its own, and tracking the model as well stores
    every weight a second time (the Keras variable and its tf.Variable), doubling
    the export's size.
    """
    functions = serving_functions(model)
    archive = keras.export.ExportArchive()
    for name, (fn, spec) in functions.items():
        archive.add_endpoint(name, fn, input_signature=spec)
    return archive


# ------------------------------------------------------------------- versions
def next_version(base_dir):
    """One more than the highest existing version, or 1."""
    versions = numeric_versions(base_dir)
    return versions[-1] + 1 if versions else 1


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_saved_model(model, base_dir, version=None, *, warmup=None, check=True,
                       keras_file=False, overwrite=False, before_publish=None):
    """Exports ``model`` as ``base_dir/<version>/`` for TF Serving; returns that path.

    Args:
        model: a built (or ``input_shape``-created) ae_zoo model.
        base_dir: the model's folder (TF Serving's ``base_path``); created if needed.
        version: a non-negative integer; default the next free one (highest + 1, or 1).
        warmup: write ``assets.extra/tf_serving_warmup_requests`` (one request per
            signature). ``None``: when ``tensorflow-serving-api`` is installed;
            ``True``: required (ImportError otherwise); ``False``: never.
        check: refuse to publish graphs with ops TF Serving cannot run
            (see :func:`find_forbidden_ops`).
        keras_file: also save the model (as compiled) as ``model.keras`` in the version,
            which :func:`ae_zoo.models.from_preset` loads; TF Serving ignores it.
        overwrite: replace an existing ``version`` (refused otherwise).
        before_publish: called with the unpublished directory and the version number when
            the export is complete (e.g. to write the version's card into it).

    The SavedModel is written to a hidden temporary directory in ``base_dir`` and
    renamed to the version number at the end; on any error nothing numeric is left. A
    replaced version stays published until the new one is (see :func:`_publish`). What
    exports that were killed left is cleaned up first (:func:`remove_stale_exports`).

    Example:
        >>> path = export_saved_model(vae, "exports/vae_mnist5k")  # .../1
        >>> tf.saved_model.load(path).signatures["sample"](seed=tf.constant([0, 1], tf.int64))
    """
    base_dir = os.fspath(base_dir)
    remove_stale_exports(base_dir)  # first: a version a killed export set aside is back
    if version is None:
        version = next_version(base_dir)
    elif isinstance(version, bool) or int(version) != version or int(version) < 0:
        raise ValueError(f"`version` must be a non-negative integer, got {version!r}.")
    version = int(version)
    final = os.path.join(base_dir, str(version))
    refuse_to_replace(final, f"version {version} of this model", overwrite)
    if warmup is None:
        warmup = warmup_available()
    elif warmup and not warmup_available():
        raise ImportError("Warm-up requests need tensorflow-serving-api: pip install 'ae_zoo[serving]'.")
    archive = build_archive(model)  # before any file is created: bad models fail here
    os.makedirs(base_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"{EXPORT_PREFIX}{os.getpid()}-", dir=base_dir)
    try:
        archive.write_out(tmp, verbose=False)
        write_json(os.path.join(tmp, MODEL_INFO_FILE), model_info(model))
        if keras_file:
            model.save(os.path.join(tmp, KERAS_FILE))
        if warmup:
            write_warmup_requests(tmp, model, model_name=os.path.basename(os.path.abspath(base_dir)))
        if check:
            problems = find_forbidden_ops(tmp)
            if problems:
                raise ValueError("The exported graph has ops TF Serving cannot run everywhere:\n  "
                                 + "\n  ".join(problems))
        if before_publish is not None:
            before_publish(tmp, version)
        _publish(tmp, final, base_dir, version)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _publish(tmp, final, base_dir, version):
    """Renames the complete export ``tmp`` to ``final``, readable by a server running as
    another user. A version it replaces is swapped with it in one atomic step where the
    system can (:func:`ae_zoo._io.exchange_paths`; the old one then lies in ``tmp``, which
    the caller removes); elsewhere it is set aside first (:func:`ae_zoo._zoo.set_aside`),
    and put back by the next export or load if this process dies before ``tmp`` is renamed.
    A kill at any moment leaves the old version or the new one, never none."""
    mode = 0o777 & ~_umask()
    for root, dirs, files in os.walk(tmp):
        os.chmod(root, mode)  # mkdtemp makes 0700; the server may run as another user
        for f in files:
            os.chmod(os.path.join(root, f), mode & 0o666)
    if os.path.exists(final) and exchange_paths(tmp, final):
        return
    old = set_aside(base_dir, version) if os.path.exists(final) else None
    # rename fails (instead of replacing) if another export took the version meanwhile
    os.rename(tmp, final)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_exports(base_dir):
    """Cleans up after exports whose process is gone (killed mid-way): puts back the
    versions they had set aside to replace (:func:`ae_zoo._zoo.restore_set_aside`), then
    removes their hidden directories; returns the removed paths. A running export's
    directories (its process alive) are kept."""
    restore_set_aside(base_dir)
    removed = []
    for name in os.listdir(base_dir) if os.path.isdir(base_dir) else []:
        if not name.startswith(EXPORT_PREFIX):
            continue
        pid = name[len(EXPORT_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and process_alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(base_dir, name), ignore_errors=True)
        removed.append(os.path.join(base_dir, name))
    return removed


# ---------------------------------------------------------------- warm-up file
def warmup_available():
    """Whether ``tensorflow_serving.apis`` (``pip install 'ae_zoo[serving]'``) is importable."""
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2  # noqa: F401  (the optional [serving] extra)
    except ImportError:
        return False
    return True


def example_inputs(model_or_specs, batch=1):
    """``{signature: {input: numpy}}``: one small valid request per signature.

    Takes a model or the ``signature_specs`` of an exported one; images are 0.5,
    codes 0, seeds 0, 1, ..., labels 0.
    """
    specs = model_or_specs if isinstance(model_or_specs, dict) else None
    if specs is None:
        specs = _model_specs(model_or_specs)
    requests = {}
    for sig, spec in specs.items():
        inputs = {}
        for name, tensor in spec["inputs"].items():
            shape = [batch] + [int(d) for d in tensor["shape"][1:]]
            if tensor["dtype"] == "int64":
                inputs[name] = np.arange(batch, dtype="int64") if name == "seed" else np.zeros(shape, "int64")
            else:
                inputs[name] = np.full(shape, 0.5 if name == "x" else 0.0, tensor["dtype"])
        requests[sig] = inputs
    return requests


def _model_specs(model):
    functions = serving_functions(model)
    functions["serving_default"] = functions["reconstruct"]
    return {sig: {"inputs": {s.name: {"shape": list(s.shape), "dtype": s.dtype.name} for s in spec}}
            for sig, (_, spec) in functions.items()}


def write_warmup_requests(export_dir, model_or_specs, model_name=""):
    """Writes ``assets.extra/tf_serving_warmup_requests``: one PredictionLog per signature.

    TF Serving replays these requests when it loads the version, so the first real
    request does not pay for graph initialization. Returns the file's path.
    """
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2  # the optional [serving] extra

    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for sig, inputs in example_inputs(model_or_specs).items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = sig
            for name, value in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir):
    """The warm-up requests of an export as ``[(signature, {input: numpy})]``."""
    from tensorflow_serving.apis import prediction_log_pb2  # the optional [serving] extra

    out = []
    for record in tf.data.TFRecordDataset(os.path.join(export_dir, WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        out.append((request.model_spec.signature_name,
                    {k: tf.make_ndarray(v) for k, v in request.inputs.items()}))
    return out


# ------------------------------------------------------------ reading exports
def read_saved_model_proto(export_dir):
    """The ``SavedModel`` protobuf of ``export_dir/saved_model.pb``."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return proto


def _tensor_info(info):
    shape = None if info.tensor_shape.unknown_rank else [
        None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
    return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}


def read_model_info(export_dir):
    """The :func:`model_info` an export recorded, or {} (exports older than the record)."""
    try:
        info = read_json(os.path.join(export_dir, MODEL_INFO_FILE))
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def signature_specs(export_dir):
    """``{signature: {"method_name", "inputs": {name: {dtype, shape}}, "outputs": ...}}``.

    Read from ``saved_model.pb`` without loading the model; unknown dimensions are None.
    """
    proto = read_saved_model_proto(export_dir)
    specs = {}
    for meta_graph in proto.meta_graphs:
        for name, sig in meta_graph.signature_def.items():
            if name.startswith("__"):  # e.g. __saved_model_init_op
                continue
            specs[name] = {
                "method_name": sig.method_name,
                "inputs": {k: _tensor_info(v) for k, v in sorted(sig.inputs.items())},
                "outputs": {k: _tensor_info(v) for k, v in sorted(sig.outputs.items())},
            }
    return dict(sorted(specs.items()))


# ---------------------------------------------------------------- graph check
#: Stateful (seed-state or kernel-global) random ops: results depend on hidden state.
STATEFUL_RANDOM_OPS = frozenset({
    "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "TruncatedNormal",
    "ParameterizedTruncatedNormal", "RandomGamma", "RandomPoisson", "RandomPoissonV2",
    "RandomShuffle", "RandomCrop", "Multinomial", "RandomBinomial",
    "StatefulStandardNormal", "StatefulStandardNormalV2", "StatefulUniform",
    "StatefulUniformInt", "StatefulUniformFullInt", "StatefulTruncatedNormal",
    "StatefulRandomBinomial", "RngSkip", "RngReadAndSkip", "NonDeterministicInts",
    "RandomShuffleQueue", "RandomShuffleQueueV2", "AnonymousSeedGenerator",
})
#: Ops that call back into the Python interpreter (absent in TF Serving).
PY_FUNC_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
#: Ops that only exist inside XLA clusters or launch them.
XLA_OPS = frozenset({"XlaLaunch", "_XlaCompile", "_XlaRun", "_XlaMerge", "XlaCallModule",
                     "XlaHostCompute", "TPUPartitionedCall"})
#: Attributes that make TF compile a function or node with XLA.
XLA_ATTRS = ("_XlaMustCompile", "_XlaCompile", "_XlaScope", "_XlaCompileAttr")
_STATEFUL_RANDOM_RE = re.compile(r"^(Random(?!IndexShuffle)|Stateful(?!PartitionedCall)\w*Random|Stateful(Standard|Uniform|Truncated))")


def _xla_attr(attrs):
    for key in XLA_ATTRS:
        if key in attrs:
            value = attrs[key]
            if value.WhichOneof("value") == "b" and not value.b:
                continue  # explicitly off
            return key
    return None


def _node_problem(node):
    op = node.op
    if op in STATEFUL_RANDOM_OPS or _STATEFUL_RANDOM_RE.match(op):
        return f"stateful random op {op}"
    if op in PY_FUNC_OPS:
        return f"Python function op {op}"
    if op in XLA_OPS or op.startswith("Xla"):
        return f"XLA op {op}"
    attr = _xla_attr(node.attr)
    if attr:
        return f"XLA attribute {attr} on {op}"
    return None


def _called_functions(node):
    """Names of the functions a node calls (``f``, ``body``, ``then_branch``, ``branches``...)."""
    names = []
    for value in node.attr.values():
        if value.WhichOneof("value") == "func":
            names.append(value.func.name)
        elif value.WhichOneof("value") == "list":
            names.extend(f.name for f in value.list.func)
    return names


def _is_variable_write(op):
    return ((op.startswith("Assign") and op.endswith("VariableOp")) or op.startswith("ResourceScatter")
            or op.startswith("ResourceApply") or op == "ResourceStridedSliceAssign")


def _signature_functions(graph, signature):
    """The library functions a signature's outputs reach through function calls."""
    library = {f.signature.name: f for f in graph.library.function}
    nodes = {n.name: n for n in graph.node}
    todo = []
    for info in signature.outputs.values():
        node = nodes.get(info.name.split(":")[0].lstrip("^"))
        if node is not None:
            todo.extend(_called_functions(node))
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in library:
            continue
        seen.add(name)
        for node in library[name].node_def:
            todo.extend(_called_functions(node))
    return [library[n] for n in sorted(seen)]


def find_forbidden_ops(export_dir):
    """Problems TF Serving would have with ``export_dir``: a list of strings, empty if none.

    Walks every node of every meta graph and of every function in its function
    library (the signatures' bodies, their nested ``PartitionedCall`` targets,
    ``While``/``If`` branches) and reports stateful random ops (``RandomStandardNormal``,
    ``RandomUniform``, ``StatefulUniform``, ``RngReadAndSkip``, ...; the
    ``StatelessRandom*`` family is fine), Python callbacks (``PyFunc``,
    ``EagerPyFunc``), XLA ops (``XlaLaunch``, ``XlaCallModule``, ``Xla*``) and XLA
    compilation attributes (``_XlaMustCompile`` set by ``jit_compile=True``) on
    functions or nodes. It also follows each signature's call graph and reports
    variable writes there (e.g. a ``keras.random.SeedGenerator`` advancing its
    state: a hidden state shared by concurrent requests); the checkpoint-restore
    functions, which write variables legitimately, are not signatures.
    """
    proto = read_saved_model_proto(export_dir)
    problems = []
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        for node in graph.node:
            problem = _node_problem(node)
            if problem:
                problems.append(f"{problem} (node {node.name!r} in the main graph)")
        for function in graph.library.function:
            fname = function.signature.name
            attr = _xla_attr(function.attr)
            if attr:
                problems.append(f"XLA attribute {attr} on function {fname!r}")
            for node in function.node_def:
                problem = _node_problem(node)
                if problem:
                    problems.append(f"{problem} (node {node.name!r} in function {fname!r})")
        for sig_name, signature in sorted(meta_graph.signature_def.items()):
            for function in _signature_functions(graph, signature):
                for node in function.node_def:
                    if _is_variable_write(node.op):
                        problems.append(f"variable write {node.op} in signature {sig_name!r} "
                                        f"(node {node.name!r} in function {function.signature.name!r})")
    return problems


def check_serving_graph(export_dir):
    """Raises ValueError naming every op of :func:`find_forbidden_ops`; returns None if clean."""
    problems = find_forbidden_ops(export_dir)
    if problems:
        raise ValueError(f"{export_dir} has ops TF Serving cannot run everywhere:\n  "
                         + "\n  ".join(problems))
