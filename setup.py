"""ae_zoo: a Keras 3 / TensorFlow model zoo of autoencoders."""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
# The pretrained zoo and the recipes ship inside the package, so load_pretrained works
# after a plain `pip install .`: saved_models/ becomes ae_zoo/_pretrained and recipes/
# ae_zoo/recipes. (Editable installs read the repository folders themselves.)
DATA_PACKAGES = {
    package: folder
    for package, folder in {"ae_zoo._pretrained": "saved_models", "ae_zoo.recipes": "recipes"}.items()
    if os.path.isdir(os.path.join(HERE, folder))  # git keeps no empty folders
}

setup(
    name="ae_zoo",
    version="0.1.0",
    description=(
        "Autoencoders for Keras 3 / TensorFlow: plain, convolutional, denoising, "
        "sparse, and the VAE family, with latent-space tools, disentanglement "
        "metrics and TF Serving export."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["ae_zoo", "ae_zoo.*"]) + sorted(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={**{package: ["*", "**/*"] for package in DATA_PACKAGES},
                  # the generation metrics' feature networks and their cards
                  "ae_zoo.evaluation.feature_networks": ["*.keras", "*.json", "*.md"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15",
        "tensorflow-probability[tf]>=0.25,<0.26",
        "tensorflow-datasets>=4.9",
        "keras-tuner>=1.4.8",
        "scikit-learn",
        "matplotlib",
        "pillow",  # the traversal animations (GIF); matplotlib needs it too
        "mlxtend",
        "pyyaml",
        "importlib_resources",  # tensorflow-datasets needs it to prepare data but does not declare it
        "tensorboard>=2.21",  # TensorBoard callbacks and keras-tuner trials need it; TF 2.21 no longer pulls it in
        "numpy",
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist", "hypothesis"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "serving": ["tensorflow-serving-api>=2.21"],
    },
    entry_points={"console_scripts": ["ae-zoo=ae_zoo.cli:main"]},
)
