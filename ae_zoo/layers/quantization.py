"""Vector quantization: the VQ-VAE's codebook (van den Oord et al. 2017)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ae_zoo")
class VectorQuantizer(keras.layers.Layer):
    """Nearest-codeword quantization with a codebook of K vectors e_1..e_K of size D.

    ``call(z_e)`` on vectors z_e (..., D) returns ``(z_q, indices)``: k = argmin_j
    ||z_e - e_j||^2 and z_q = e_k. z_q reaches z_e only through the argmin, so no gradient
    does (the VQ-VAE passes the decoder's gradient straight through to z_e); it is
    differentiable in the codebook.

    With ``ema=True`` the codebook is not trained by gradients but updated in each
    training call by exponential moving averages (van den Oord et al. 2017, appendix
    A.1), as Keras' BatchNormalization updates its statistics; with n_k the number of
    vectors assigned to e_k and s_k their sum in the batch:

        N_k <- decay N_k + (1 - decay) n_k,    m_k <- decay m_k + (1 - decay) s_k,
        e_k  = m_k / N~_k,   N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j

    (Laplace smoothing keeps unused codewords finite). N starts at 1 and m at the initial
    codebook, as if each codeword had been assigned once at its initial value: an unused
    codeword keeps its place instead of collapsing to 0.
    """

    def __init__(self, num_embeddings, embedding_dim, ema=False, decay=0.99, epsilon=1e-5,
                 embeddings_initializer=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or int(value) != value or int(value) < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"`decay` must be in [0, 1), got {decay!r}.")
        if not float(epsilon) > 0:
            raise ValueError(f"`epsilon` must be > 0, got {epsilon!r}.")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.ema = bool(ema)
        self.decay = float(decay)
        self.epsilon = float(epsilon)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or keras.initializers.RandomUniform(-1.0, 1.0))

    def build(self, input_shape=None):
        shape = (self.num_embeddings, self.embedding_dim)
        aggregation = "mean" if self.ema else "none"  # EMA updates run in replica context
        self.codebook = self.add_weight(shape=shape, initializer=self.embeddings_initializer,
                                        trainable=not self.ema, name="codebook",
                                        aggregation=aggregation)
        if self.ema:
            self.cluster_size = self.add_weight(shape=(self.num_embeddings,), initializer="ones",
                                                trainable=False, name="ema_cluster_size",
                                                aggregation=aggregation)
            self.embedding_sum = self.add_weight(shape=shape, initializer="zeros", trainable=False,
                                                 name="ema_embedding_sum", aggregation=aggregation)
            self.embedding_sum.assign(self.codebook)

    def nearest(self, z):
        """``(z_q, indices)`` of vectors ``z`` (..., D) under the current codebook."""
        z = ops.cast(z, "float32")
        codebook = ops.cast(self.codebook, "float32")
        flat = ops.reshape(z, (-1, self.embedding_dim))
        distances = (ops.sum(ops.square(flat), axis=1, keepdims=True)
                     - 2.0 * ops.matmul(flat, ops.transpose(codebook))
                     + ops.sum(ops.square(codebook), axis=1)[None, :])
        indices = ops.reshape(ops.argmin(distances, axis=1), ops.shape(z)[:-1])
        return self.lookup(indices), ops.cast(indices, "int32")

    def lookup(self, indices):
        """The codewords e_k of integer ``indices`` (...,): shape (..., D), float32."""
        return ops.take(ops.cast(self.codebook, "float32"), ops.cast(indices, "int32"), axis=0)

    def ema_update(self, z, indices):
        """One exponential-moving-average step of the codebook on vectors ``z`` assigned
        to ``indices`` (see the class docstring)."""
        flat = ops.stop_gradient(ops.reshape(ops.cast(z, "float32"), (-1, self.embedding_dim)))
        one_hot = ops.one_hot(ops.reshape(indices, (-1,)), self.num_embeddings, dtype="float32")
        counts = ops.sum(one_hot, axis=0)
        sums = ops.matmul(ops.transpose(one_hot), flat)
        cluster_size = self.decay * self.cluster_size + (1.0 - self.decay) * counts
        embedding_sum = self.decay * self.embedding_sum + (1.0 - self.decay) * sums
        total = ops.sum(cluster_size)
        smoothed = (cluster_size + self.epsilon) / (total + self.num_embeddings * self.epsilon) * total
        self.cluster_size.assign(cluster_size)
        self.embedding_sum.assign(embedding_sum)
        self.codebook.assign(embedding_sum / smoothed[:, None])

    def call(self, z, training=False):
        z_q, indices = self.nearest(z)
        if training and self.ema:
            self.ema_update(z, indices)
        return z_q, indices

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), tuple(input_shape[:-1])

    def get_config(self):
        return {**super().get_config(), "num_embeddings": self.num_embeddings,
                "embedding_dim": self.embedding_dim, "ema": self.ema, "decay": self.decay,
                "epsilon": self.epsilon,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer)}
