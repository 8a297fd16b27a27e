"""Progress of long runs on the terminal: a bar in the unit the user thinks in (documents,
triples, examples), and under it the model requests behind it, which move as each request
completes, with model calls, cache hits, tokens and an estimate of the time left.

Drawn by tqdm on stderr, and only when stderr is a terminal and progress is allowed
(``--no-progress`` forbids it, see :func:`allowed`): logs and pipes get no bar and no control
characters.

Two hooks feed it, so no stage has to know about it:

* the LLM client (:class:`kgjudge.llm.LLM`) calls :func:`requests_sent` when it sends requests
  and :func:`requests_done` as they come back, from the cache at once, from the backend as the
  backend reports them (``kgjudge.llm.report_finished``, within a batch) or when the batch
  returns;
* code with its own unit of work opens a :class:`Progress` and calls :meth:`Progress.advance`.

Requests go to the innermost open :class:`Progress`; with none open they are not counted.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TextIO

from kgjudge._text import printable

REDRAW_S = 0.5
"""Seconds between redraws of the unit bar while only model requests move."""

_lock = threading.RLock()
_open: list[Progress] = []
_allowed = True

_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} UNIT [{elapsed}<{remaining}]"
_BAR_NO_TOTAL = "{desc}: {n_fmt} UNIT [{elapsed}]"
_REQUESTS = "  {desc}: {n_fmt}/{total_fmt} requests [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


@contextmanager
def allowed(flag: bool) -> Iterator[None]:
    """Allow progress bars within the block (``False``: none, whatever the terminal)."""
    global _allowed
    before, _allowed = _allowed, flag
    try:
        yield
    finally:
        _allowed = before


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (a closed or odd stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _tokens(n: int) -> str:
    return f"{n / 1_000_000:.1f}M" if n >= 1_000_000 else f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class Progress:
    """The progress of one long run, shown on a terminal.

    Args:
        desc: what runs (``build``, ``judge``).
        unit: its unit of work, plural (``documents``, ``triples``, ``examples``).
        total: how many units; None when unknown (:meth:`add_total` grows it).
        initial: units done before (a resumed run).
        enabled: False shows nothing (a caller's ``progress=False``).

    The counters (:attr:`done`, :attr:`sent`, :attr:`finished`, :attr:`calls`, :attr:`cached`,
    :attr:`tokens`) are kept whether or not anything is shown.

    Example:
        >>> with Progress("judge", "triples", total=len(triples)) as progress:
        ...     judgements = judge.judge_sync(triples, documents)
        ...     progress.advance(len(triples))
    """

    def __init__(self, desc: str, unit: str, total: int | None = None, *, initial: int = 0, enabled: bool = True) -> None:
        self.desc = desc
        self.unit = unit
        self.total = total
        self.done = initial
        self.sent = self.finished = self.calls = self.cached = self.tokens = 0
        self.enabled = enabled
        self.shown = False
        self._bar: Any = None
        self._requests: Any = None
        self._position = 0
        self._redrawn = 0.0

    def __enter__(self) -> Progress:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> Progress:
        """Show the bar (on a terminal) and take the model requests from now on."""
        with _lock:
            self.shown = self.enabled and _allowed and is_terminal(sys.stderr)
            if self.shown:
                self._position = 2 * sum(1 for p in _open if p.shown)
                if self.total != 0:  # no bar for nothing to do (yet: see add_total)
                    self._bar = self._make_bar()
            _open.append(self)
        return self

    def close(self) -> None:
        """Remove the bar (the finished unit bar stays on screen); safe to call twice."""
        with _lock:
            if self._requests is not None:
                self._requests.close()
            if self._bar is not None:
                self._bar.close()
            self._bar = self._requests = None
            if self in _open:
                _open.remove(self)

    def _make_bar(self) -> Any:
        from tqdm import tqdm

        known = bool(self.total)
        return tqdm(
            total=self.total if known else None, initial=self.done, desc=self.desc, file=sys.stderr,
            position=self._position, dynamic_ncols=True, leave=self._position == 0,
            bar_format=(_BAR if known else _BAR_NO_TOTAL).replace("UNIT", self.unit),
        )

    # -- units of work -------------------------------------------------------------------------

    def advance(self, n: int = 1) -> None:
        """``n`` more units are done."""
        with _lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)

    def add_total(self, n: int) -> None:
        """``n`` more units to do (a total found out as the run goes)."""
        with _lock:
            self.total = (self.total or 0) + n
            if not self.shown or not self.total:
                return
            if self._bar is None or self._bar.total is None:  # a first bar, or one with a percentage now
                if self._bar is not None:
                    self._bar.leave = False
                    self._bar.close()
                self._bar = self._make_bar()
            else:
                self._bar.total = self.total
                self._bar.refresh()

    # -- model requests (from the LLM client) --------------------------------------------------

    def _sent(self, n: int) -> None:
        self.sent += n
        if not self.shown:
            return
        if self._requests is None:
            from tqdm import tqdm

            self._requests = tqdm(
                total=self.sent, initial=self.finished, desc="model", unit="req", file=sys.stderr,
                position=self._position + 1, dynamic_ncols=True, leave=False, bar_format=_REQUESTS,
            )
        else:
            self._requests.total = self.sent
            self._requests.refresh()

    def _done(self, n: int, calls: int, cached: int, tokens: int) -> None:
        self.finished += n
        self.calls += calls
        self.cached += cached
        self.tokens += tokens
        if self._requests is not None:
            self._requests.set_postfix_str(
                f"calls {self.calls}, cached {self.cached}, tokens {_tokens(self.tokens)}", refresh=False)
            self._requests.update(n)
            # the unit bar's elapsed time moves too, though its count waits for whole units
            now = time.monotonic()
            if self._bar is not None and now - self._redrawn >= REDRAW_S:
                self._redrawn = now
                self._bar.refresh()


def _innermost() -> Progress | None:
    return _open[-1] if _open else None


def requests_sent(n: int) -> None:
    """The LLM client's hook: ``n`` requests were sent (or looked up in the cache)."""
    with _lock:
        progress = _innermost()
        if progress is not None and n > 0:
            progress._sent(n)


def requests_done(n: int, *, calls: int = 0, cached: int = 0, tokens: int = 0) -> None:
    """The LLM client's hook: ``n`` requests are answered, ``calls`` of them by the model
    (``tokens`` in and out) and ``cached`` from the response cache."""
    with _lock:
        progress = _innermost()
        if progress is not None and n > 0:
            progress._done(n, calls, cached, tokens)


def write(message: str) -> None:
    """Print a line to stderr above any progress bar (which then redraws below it); control
    characters are shown as escapes (see :func:`kgjudge._text.printable`), as the CLI does."""
    message = printable(message)
    with _lock:
        if any(p.shown for p in _open):
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)
