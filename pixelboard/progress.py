"""Progress bars for steps that can take more than a few seconds (tqdm, on stderr).

:func:`ticking_bar` is a tqdm bar whose elapsed-time display keeps moving while one long unit of work
runs (a deploy refit, a single model's fit): tqdm redraws only on ``update``, so a 30-second fit
would otherwise show a frozen ``0/1`` that looks hung.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

TICK_SECONDS = 1.0


@contextlib.contextmanager
def ticking_bar(*, disable: bool = False, **tqdm_kwargs) -> Iterator:
    from tqdm.auto import tqdm

    bar = tqdm(disable=disable, **tqdm_kwargs)
    stop = threading.Event()

    def tick():
        while not stop.wait(TICK_SECONDS):
            bar.refresh()

    ticker = None if disable else threading.Thread(target=tick, name="pixelboard-progress", daemon=True)
    if ticker is not None:
        ticker.start()
    try:
        yield bar
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        bar.close()
