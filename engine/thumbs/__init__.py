"""The thumbnail cache: content-hash keyed JPEGs under ``PROJECT/cache/thumbs`` (disposable).

``get_thumbnail`` serves the app lazily, ``build_thumbnails`` is the background job that
fills the cache on all cores, ``prune_thumbnails`` keeps it under ``cache_max_mb``.
"""

from .cache import (build_thumbnails, get_thumbnail, path_for_hash, thumbnail_path,
                    thumbs_root)
from .prune import cache_size_bytes, cache_stats, prune_thumbnails
from .render import REASONS, fit_size, make_thumbnail, render

__all__ = ["REASONS", "build_thumbnails", "cache_size_bytes", "cache_stats", "fit_size", "get_thumbnail",
           "make_thumbnail", "path_for_hash", "prune_thumbnails", "render", "thumbnail_path",
           "thumbs_root"]
