"""Building what lives as long as the process (botocore's modules, sessions and clients) without the cyclic
garbage collector walking it again and again while it grows.

A command's first AWS client brings some hundreds of thousands of objects: botocore's and urllib3's modules,
the endpoint data, the service model. While they are made, Python's collector runs over a hundred times
(a full collection each time the heap has grown by a quarter, walking every object made so far): measured,
~33 ms of ``onboard connect``'s ~250 ms before the plugin starts, freeing almost nothing, since these
objects are never garbage. Built under :func:`long_lived`, they are made with the collector paused and then
frozen (:func:`gc.freeze`: kept out of every later collection, as ``onboard.cli`` already does at exit).
The collector runs again afterwards for everything else, so a long-running command (the lab, a tunnel)
still frees its cycles.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
#: Blocks open now (in any thread), and whether the collector was enabled when the first one opened.
_open = 0
_was_enabled = False


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """Inside: the cyclic collector paused. When the last open block (of any thread: the collector is the
    process's) ends, what is alive is frozen and the collector is back as it was before the first. Cyclic
    garbage made inside is kept, which is why it is for one-off building (imports, a session, a client),
    never around a loop."""
    global _open, _was_enabled
    with _lock:
        if _open == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _open += 1
    try:
        yield
    finally:
        with _lock:
            _open -= 1
            if _open == 0:
                gc.freeze()
                if _was_enabled:
                    gc.enable()
