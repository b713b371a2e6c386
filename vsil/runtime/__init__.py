"""The runtime under every detector: disk cache, batched execution, progress."""

from vsil.runtime.cache import Cache, NullCache, content_key, default_cache_dir, open_cache

__all__ = ["Cache", "NullCache", "content_key", "default_cache_dir", "open_cache"]
