"""Keeps PySide6 6.12 usable on CPython 3.11.

The PySide6 6.12 abi3 wheels return None, True and False from C++ (void methods, signal
emission) without taking a reference, as is correct only where these objects are immortal
(CPython 3.12 and later). On 3.11 each such call lowers their reference count by one, and the
interpreter aborts with "deallocating None" after a few thousand Qt calls. Giving the
singletons a reference count they can never run down makes them immortal in practice, as
they are on 3.12. Nothing is done on other versions or interpreters.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 48  # more dropped references than an application could make in centuries
_done = False


def needs_singleton_guard() -> bool:
    return sys.implementation.name == "cpython" and sys.version_info < (3, 12)


def protect_singletons() -> None:
    """Raise the reference counts of None, True, False, NotImplemented and Ellipsis (once)."""
    global _done
    if _done or not needs_singleton_guard():
        return
    for singleton in (None, True, False, NotImplemented, Ellipsis):
        # ob_refcnt is the first field of every object in CPython 3.11 release builds.
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HEADROOM
    _done = True
