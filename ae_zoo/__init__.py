"""ae_zoo: autoencoders for Keras 3 / TensorFlow."""

__version__ = "0.1.0"
