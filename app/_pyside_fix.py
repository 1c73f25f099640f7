"""A workaround applied before any Qt call: see :func:`pin_none`."""
from __future__ import annotations

import ctypes
import sys

_pinned = False


def pin_none() -> None:
    """Work around a PySide6 6.12 (abi3 wheel) bug on CPython < 3.12: every call of a void
    C++ method drops one reference to ``None`` (it assumes None is immortal, as in 3.12+),
    and after ~10^4 calls CPython aborts with "none_dealloc" (measured: 1,000
    ``QObject.setObjectName`` calls = -1,001 references). Give None a huge refcount."""
    global _pinned
    if sys.version_info < (3, 12) and not _pinned:
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
        _pinned = True
