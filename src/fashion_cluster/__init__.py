"""fashion-cluster: unsupervised cluster analysis of image sets, Fashion-MNIST first."""

__version__ = "0.1.0"
