"""Data: datasets, a seeded and resumable ``DataLoader``, batch transforms, offline real data sets.

Nothing here downloads. The data sets read files already on the machine (IDX, CIFAR python
batches, image folders) or make their data on the spot (scikit-learn's digits, MNIST-1D);
optional packages (scikit-learn, mnist1d, Pillow) are imported only by the function that needs
them.
"""

from . import transforms
from .cifar import cifar10, cifar100
from .dataset import ArrayDataset, ConcatDataset, Dataset, DataSplit, Subset, random_split
from .digits import Split, digits, load_digits_split, upsample_nearest
from .idx import fashion_mnist, idx, mnist, read_idx
from .image_folder import image_folder
from .loader import ArrayLoader, DataLoader, default_collate
from .mnist_1d import mnist1d
from .transforms import random_shift

__all__ = ["Dataset", "ArrayDataset", "Subset", "ConcatDataset", "DataSplit", "random_split",
           "DataLoader", "default_collate", "transforms",
           "digits", "mnist1d", "idx", "read_idx", "mnist", "fashion_mnist", "cifar10", "cifar100", "image_folder",
           "Split", "load_digits_split", "upsample_nearest", "ArrayLoader", "random_shift"]
