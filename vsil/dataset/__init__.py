"""Loading data into validated samples."""

from vsil.dataset._dataset import Dataset, build_dataset
from vsil.dataset._errors import DataError, RowError
from vsil.dataset._files import read_rows
from vsil.dataset._images import ImageError, ImageRef
from vsil.dataset._load import load
from vsil.dataset._registry import LoaderInfo, get_loader, list_loaders, register_loader
from vsil.dataset._sample import Sample

__all__ = [
    "DataError",
    "Dataset",
    "ImageError",
    "ImageRef",
    "LoaderInfo",
    "RowError",
    "Sample",
    "build_dataset",
    "get_loader",
    "list_loaders",
    "load",
    "read_rows",
    "register_loader",
]
