"""The version of ae_zoo, in a module of its own: the modules that record it import it
without importing the whole package."""

__version__ = "0.1.0"
