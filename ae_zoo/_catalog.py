"""What ``ae-zoo list`` prints, readable without importing TensorFlow or the models.

The built-in models and datasets with one line each (a test keeps these tables equal to
the registry and :func:`ae_zoo.data.names`), and the model plugins other packages declare
(their entry points, read from the installed packages' metadata without importing them).
"""

import importlib.metadata

#: The entry-point group of model plugins (see :mod:`ae_zoo.models.registry`).
ENTRY_POINT_GROUP = "ae_zoo.models"

#: Built-in model name -> what it is and what it minimizes, in one line.
MODELS = {
    "aae": "AAE: rec + w * E[-log D(z)], a code discriminator with its own optimizer (Makhzani et al. 2016)",
    "ae": "Autoencoder: reconstruction error (MSE, or BCE on logits)",
    "annealed_vae": "AnnealedVAE: rec + gamma * |KL - C(t)|, capacity C growing (Burgess et al. 2018)",
    "beta_tcvae": "BetaTCVAE: rec + KL + (beta - 1) * total correlation (Chen et al. 2018)",
    "beta_vae": "BetaVAE: the VAE objective with beta = 4 (Higgins et al. 2017)",
    "ciwae": "CIWAE: -(beta * ELBO + (1 - beta) * IWAE_K) on the same K draws (Rainforth et al. 2018)",
    "conv_ae": "ConvAutoencoder: the autoencoder with conv networks by default",
    "cvae": "ConditionalVAE: the VAE objective, conditioned on class labels (Sohn et al. 2015)",
    "denoising_ae": "DenoisingAutoencoder: reconstructs the clean input from a corrupted copy",
    "dip_vae_i": "DIPVAEI: rec + KL + moment matching of Cov[mu(x)] (Kumar et al. 2018)",
    "dip_vae_ii": "DIPVAEII: rec + KL + moment matching of Cov[z] (Kumar et al. 2018)",
    "factor_vae": "FactorVAE: rec + KL + gamma * TC from a discriminator (Kim and Mnih 2018)",
    "info_vae": "InfoVAE: rec + (1 - alpha) KL + (alpha + lambda - 1) MMD(q(z), p(z)) (Zhao et al. 2019)",
    "iwae": "IWAE: -IWAE_K, the importance-weighted bound with K samples (Burda et al. 2016)",
    "miwae": "MIWAE: -(1/M) sum_m IWAE_K over M groups of K draws (Rainforth et al. 2018)",
    "mog_vae": "MixtureOfGaussiansVAE: -ELBO under a learned mixture-of-Gaussians prior",
    "piwae": "PIWAE: encoder on the MIWAE bound, decoder on the IWAE bound (Rainforth et al. 2018)",
    "rae_gp": "RAEGP: rec + beta ||z||^2 + lambda * a gradient penalty on the decoder (Ghosh et al. 2020)",
    "rae_l2": "RAEL2: rec + beta ||z||^2 + lambda * L2 on the decoder's weights (Ghosh et al. 2020)",
    "sparse_ae": "SparseAutoencoder: reconstruction + an L1 or KL sparsity penalty on the code",
    "vae": "VAE: -ELBO, -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I)) (Kingma and Welling 2014)",
    "vae_gan": "VAEGAN: KL + a reconstruction in a discriminator's features (Larsen et al. 2016)",
    "vae_iaf": "VAEIAF: -ELBO, q(z|x) refined by an inverse autoregressive flow (Kingma et al. 2016)",
    "vae_nf": "VAENF: -ELBO, q(z|x) refined by planar/radial flows (Rezende and Mohamed 2015)",
    "vamp": "VampPriorVAE: -ELBO under the VampPrior, a mixture of q(z|u_k) (Tomczak and Welling 2018)",
    "vq_vae": "VQVAE: rec + codebook + commitment losses, nearest-codeword codes (van den Oord et al. 2017)",
    "wae_mmd": "WAE: rec + lambda * MMD(q(z), N(0, I)), RBF or IMQ kernel (Tolstikhin et al. 2018)",
}

#: Dataset name -> what it holds, in one line.
DATASETS = {
    "celeb_a": "CelebA faces, 64x64x3 (TFDS, prepared data)",
    "cifar10": "CIFAR-10, 32x32x3, 10 classes (TFDS, prepared data)",
    "color_dsprites": "procedural dSprites in a random colour per image, 64x64x3, 5 factors (embedded)",
    "digits": "scikit-learn's 8x8 digits, 10 classes (embedded)",
    "dsprites": "procedural dSprites, 64x64x1, 5 ground-truth factors (embedded)",
    "fashion_mnist": "Fashion-MNIST, 28x28x1, 10 classes (TFDS, prepared data)",
    "mnist": "MNIST, 28x28x1, 10 classes (TFDS, prepared data)",
    "mnist5k": "5,000 real MNIST digits, 4,000 train / 1,000 test (embedded)",
    "noisy_dsprites": "procedural dSprites on a uniform-noise background, 64x64x3, 5 factors (embedded)",
    "shapes3d": "3D Shapes, 64x64x3, 6 ground-truth factors (TFDS, prepared data)",
}


def plugin_entry_points():
    """``{name: "module:object"}`` of the declared model plugins (none is imported; a
    plugin taking a built-in's name is left out, as loading skips it)."""
    try:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001  (broken metadata of some installed package)
        return {}
    return {ep.name: ep.value for ep in entry_points if ep.name not in MODELS}
