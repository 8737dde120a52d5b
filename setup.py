"""ae_zoo: a Keras 3 / TensorFlow model zoo of autoencoders."""

from setuptools import find_packages, setup

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
    packages=find_packages(include=["ae_zoo", "ae_zoo.*"]),
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15",
        "tensorflow-probability[tf]>=0.25,<0.26",
        "tensorflow-datasets>=4.9",
        "keras-tuner>=1.4.8",
        "scikit-learn",
        "matplotlib",
        "mlxtend",
        "pyyaml",
        "numpy",
    ],
    extras_require={
        "test": ["pytest", "hypothesis"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "serving": ["tensorflow-serving-api>=2.21"],
    },
    entry_points={"console_scripts": ["ae-zoo=ae_zoo.cli:main"]},
)
