"""Example models that show how to add a model to ae_zoo (the README's "Add your own
model"). They are not built-ins: importing a module registers its model."""
