"""Tiny models and independent (numpy) references shared by the model tests."""

import keras
import numpy as np

import ae_zoo.models as models

# The deterministic families of the foundation issue (others are added elsewhere).
MODEL_NAMES = ("ae", "conv_ae", "denoising_ae", "sparse_ae")
ARCHITECTURES = ("mlp", "conv", "conv_unpool")
DEFAULT_ARCHITECTURE = {"ae": "mlp", "conv_ae": "conv", "denoising_ae": "mlp", "sparse_ae": "mlp"}
SHAPE = (8, 8, 1)
LATENT = 3
EPOCHS, BATCH = 6, 16


def net_options(arch):
    return {"hidden_units": (32,)} if arch == "mlp" else {"filters": (4, 8)}


def make_model(name, arch=None, input_shape=SHAPE, seed=0, **kwargs):
    """A tiny model; ``arch=None`` keeps the model's default architecture."""
    arch = arch or DEFAULT_ARCHITECTURE[name]
    kw = dict(latent_dim=LATENT, input_shape=input_shape, seed=seed, **net_options(arch))
    if arch != DEFAULT_ARCHITECTURE[name]:
        kw["architecture"] = arch
    kw.update(kwargs)
    keras.utils.set_random_seed(seed)
    return models.create(name, **kw)


# ------------------------------------------------------------------ references
def np_bce_from_logits(x, logits):
    """Mean binary cross-entropy on logits, computed in float64."""
    x, l = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    return float(np.mean(np.maximum(l, 0) - l * x + np.log1p(np.exp(-np.abs(l)))))


def np_kl_sparsity(code, rho):
    """sum_j rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))."""
    rho_hat = np.asarray(code, np.float64).mean(axis=0)
    return float(np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))))


def sigmoid(t):
    return 1.0 / (1.0 + np.exp(-np.asarray(t, np.float64)))


def manual_pass(model, x, use_switches=True):
    """Runs the model's encoder and decoder by hand: returns (code, logits).

    The code is the encoder's "code" output (through a sigmoid for the KL sparse
    model); the decoder receives the encoder's switches, or -1 switches.
    """
    out = model.encoder(x, training=False)
    switches = {}
    if isinstance(out, dict):
        switches = {k: np.asarray(v) for k, v in out.items() if k != "code"}
        code = np.asarray(out["code"])
    else:
        code = np.asarray(out)
    if getattr(model, "sparsity", None) == "kl":
        code = sigmoid(code).astype("float32")
    if not switches:
        return code, np.asarray(model.decoder(code, training=False))
    if not use_switches:
        switches = {k: -np.ones_like(v) for k, v in switches.items()}
    return code, np.asarray(model.decoder({"code": code, **switches}, training=False))


def expected_losses(model, x):
    """The model's loss terms on one clean batch, from the manual pass and numpy."""
    code, logits = manual_pass(model, x)
    if model.reconstruction_loss == "bce":
        rec = np_bce_from_logits(x, logits)
    else:
        rec = float(np.mean((np.asarray(logits, np.float64) - x) ** 2))
    terms = {"reconstruction_loss": rec}
    sparsity = 0.0
    if getattr(model, "sparsity", None) is not None:
        penalty = (np.mean(np.abs(code)) if model.sparsity == "l1"
                   else np_kl_sparsity(code, model.target_sparsity))
        sparsity = model.sparsity_weight * penalty
        terms["sparsity_loss"] = sparsity
    terms["loss"] = rec + sparsity
    return terms


# --------------------------------------------------------------- trained models
class Counter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = self.batches = self.train_begin = 0

    def on_train_begin(self, logs=None):
        self.train_begin += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
