"""The serving functions every model exports, built from what the model declares.

:meth:`ae_zoo.models.Autoencoder.serving_functions` returns ``{signature: (function,
input_signature)}``; ``ae_zoo.export.export_saved_model`` traces them into a SavedModel.
Every function returns a dict of float32 tensors (integer ones, such as a VQ-VAE's code
``indices``, as int64); the batch dimension is None; the inputs
are named by their specs: ``x`` float32 ``[batch, *example_shape]`` in [0, 1], ``z``
float32 ``[batch, latent_dim]``, ``seed`` and ``label`` int64 ``[batch]``:

==================  ===============  ==================================================
signature           inputs           outputs
==================  ===============  ==================================================
``reconstruct``     x (+ label)      ``reconstruction``: the mean image decode(encode(x))
``encode``          x (+ label)      ``code`` (a model adds more: ``serving_encode``)
``decode``          z (+ label)      ``reconstruction``: the mean image decoded from z
``sample``          seed             ``image``: an unconditional model that can sample
``generate``        label, seed      ``image``: a generative, conditional model
==================  ===============  ==================================================

``(+ label)``: a conditional model's functions also take ``label``, checked in the graph
(one per row, in [0, num_classes)). ``sample`` decodes ``model.draw_codes(seed)`` (the
attached sampler's draws, its parameters baked into the graph, else the prior's): one
image per seed, so a batch of seeds works in TF Serving's row format and concurrent
requests cannot interfere; ``model.sample(n, seed=s)`` equals ``sample(seed=[s, ...,
s+n-1])``. A model adds signatures by extending the dict in its own ``serving_functions``
(their functions must stay stateless: no seed generator, no variable writes).
"""

import tensorflow as tf


def tensor(out, key):
    """The tensor ``key`` of a dict output (a user model's ``call`` may return a dict)."""
    if isinstance(out, dict):
        if key not in out:
            raise ValueError(f"The model returned a dict without {key!r}: keys {sorted(out)}.")
        return out[key]
    return out


def _f32(t):
    return tf.cast(t, tf.float32)  # mixed-precision outputs are served as float32


def specs(model):
    """``{input name: TensorSpec}`` of the signatures' inputs for ``model``."""
    return {
        "x": tf.TensorSpec((None, *model.example_shape), tf.float32, name="x"),
        "z": tf.TensorSpec((None, int(model.latent_dim)), tf.float32, name="z"),
        "seed": tf.TensorSpec((None,), tf.int64, name="seed"),
        "label": tf.TensorSpec((None,), tf.int64, name="label"),
    }


def checked_labels(model, label, *others):
    """``label`` after graph assertions: in [0, num_classes), one per row of ``others``."""
    num_classes = int(model.num_classes)
    checks = [
        tf.debugging.assert_non_negative(label, message="`label` must be >= 0"),
        tf.debugging.assert_less(label, tf.constant(num_classes, tf.int64),
                                 message=f"`label` must be < num_classes={num_classes}"),
    ]
    for other in others:
        checks.append(tf.debugging.assert_equal(
            tf.shape(other, out_type=tf.int64)[0], tf.size(label, out_type=tf.int64),
            message="`label` needs one entry per row"))
    with tf.control_dependencies(checks):
        return tf.identity(label)


def _labelled(model, body, main):
    """``(function, input_signature)`` calling ``body(inputs, labels)``: ``main`` is the
    input's name; a conditional model's function takes ``label`` too."""
    spec = specs(model)
    if not model.conditional:
        return (lambda a: body(a, None)), [spec[main]]

    def function(a, label):
        return body(a, checked_labels(model, label, a))

    return function, [spec[main], spec["label"]]


def common_functions(model):
    """The signatures every model has (and ``sample``/``generate`` for one that can sample)."""

    def reconstruct(x, labels):
        inputs = x if labels is None else (x, labels)
        return {"reconstruction": _f32(tensor(model(inputs, training=False), "reconstruction"))}

    def encode(x, labels):
        outputs = model.serving_encode(x, model.condition(labels))
        return {k: v if v.dtype.is_integer else _f32(v) for k, v in outputs.items()}

    def decode(z, labels):
        return {"reconstruction": _f32(tensor(model.decode(z, labels=labels), "reconstruction"))}

    functions = {
        "reconstruct": _labelled(model, reconstruct, "x"),
        "encode": _labelled(model, encode, "x"),
        "decode": _labelled(model, decode, "z"),
    }
    if model.can_sample:
        def draw(seed, labels):
            z = model.draw_codes(seed, labels=labels)
            return {"image": _f32(tensor(model.decode(z, labels=labels), "reconstruction"))}

        if model.conditional:
            spec = specs(model)
            functions["generate"] = (
                lambda label, seed: draw(seed, checked_labels(model, label, seed)),
                [spec["label"], spec["seed"]])
        else:
            functions["sample"] = _labelled(model, draw, "seed")
    return functions
