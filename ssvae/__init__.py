"""ssvae-bias: an SS-VAE face detector and tools to read its latent space for bias."""

__version__ = "0.1.0"
