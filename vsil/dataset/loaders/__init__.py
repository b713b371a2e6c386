"""Built-in named loaders; importing this package registers them."""

from vsil.dataset.loaders import vlsbench

__all__ = ["vlsbench"]
