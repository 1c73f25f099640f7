"""PyInstaller runtime hook: compiled numba kernels of the packaged app go to the user's cache
folder (``~/.cache/classkit/numba`` on Linux; engine/userdirs.py; or ``NUMBA_CACHE_DIR``),
once per user and version.

The bundle is read-only and may be shared, so numba's in-tree ``__pycache__`` is out. Its own
fallback for frozen programs keys the cache by the *current working folder* (PyInstaller
makes code file names relative), so every folder the CLI runs from would compile again.
This adds a locator, ahead of numba's, that resolves each kernel's source file inside the
bundle (the spec ships those .py files) and keys the cache by that file. It is installed
when ``numba.core.caching`` is first imported, so starting the CLI does not load numba.
"""
import importlib.abc
import os
import sys

_TARGET = "numba.core.caching"


def _install_locator(caching) -> None:  # noqa: ANN001 - the numba.core.caching module
    from classkit.engine.userdirs import numba_cache_dir

    base = os.environ.get("NUMBA_CACHE_DIR") or str(numba_cache_dir())
    root = getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(sys.executable)))

    class BundleCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """A kernel's cache folder: one per source folder inside the bundle."""

        def __init__(self, py_func, py_file: str) -> None:  # noqa: ANN001
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            rel = os.path.dirname(os.path.relpath(py_file, root)).replace(os.sep, "_") or "_"
            self._cache_path = os.path.join(base, rel)

        def get_cache_path(self) -> str:
            return self._cache_path

        def get_source_stamp(self) -> tuple:
            st = os.stat(self._py_file)  # the shipped source: changes with each version
            return st.st_mtime, st.st_size

        @classmethod
        def from_function(cls, py_func, py_file: str):  # noqa: ANN001, ANN206
            if not os.path.isabs(py_file):
                py_file = os.path.join(root, py_file)
            if not os.path.isfile(py_file):
                return None
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:  # not writable: numba's own locators decide
                return None
            return self

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in numba 0.6x
    impl._locator_classes.insert(0, BundleCacheLocator)


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec):  # noqa: ANN001, ANN201
        return self._inner.create_module(spec)

    def exec_module(self, module) -> None:  # noqa: ANN001
        self._inner.exec_module(module)
        try:
            _install_locator(module)
        except Exception as exc:  # a numba without these internals: keep its default caching
            sys.stderr.write(f"classkit: numba cache folder not set ({exc})\n")


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)  # once; and find the real spec without us
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


sys.meta_path.insert(0, _Finder())
