"""Library use is quiet: loading a model prints nothing unless the caller asks for it.

diffusers and transformers draw a bar per pipeline and per checkpoint they load,
and log notices that say nothing to our users (a processor that would rather
have torchvision). A library that prints
into its caller's terminal or logs is a bad neighbour, so our loads hide them;
a caller who wants them back turns on INFO logging for `spagent_graph`
(`logging.getLogger("spagent_graph").setLevel(logging.INFO)`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

__all__ = ["quiet_loading"]

_lock = threading.Lock()
_depth = 0
_restore: list = []


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hides the libraries' bars and notices while a model loads (Python warnings stay the caller's to filter).

    Their switches are process-wide, so loads in parallel (two routes) share one
    quiet spell: the first to start turns them off, the last to finish restores them."""
    if logging.getLogger("spagent_graph").isEnabledFor(logging.INFO):
        yield
        return
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            _restore.extend(_silence())
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                while _restore:
                    _restore.pop()()


def _silence() -> list:
    """Turns the libraries' output off; returns what turns each part back on."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    restore = []
    for library in (diffusers_logging, transformers_logging):
        verbosity, bars = library.get_verbosity(), library.is_progress_bar_enabled()
        library.set_verbosity_error()
        library.disable_progress_bar()
        restore.append(lambda library=library, verbosity=verbosity: library.set_verbosity(verbosity))
        if bars:
            restore.append(library.enable_progress_bar)
    return restore
