"""JSON-schema constrained decoding for local backends (llguidance), and JSON prefix surgery.

:class:`JsonGrammar` turns a request's JSON schema into a token matcher: at every step it gives
the tokens that keep the reply a prefix of a schema-valid value, and it stops the row when the
value closes. Replies are written compactly, the way kgjudge's adapters were trained
(``json.dumps``: ``", "`` between items, ``": "`` after keys, no other whitespace), which also
rules out whitespace loops.

Two things a grammar cannot do are done on the text, with :class:`JsonPrefix`, a scanner of a
JSON prefix:

- a reply cut by ``max_tokens`` is closed at its last complete element (:func:`close_json`),
  so it still parses; the cut is kept only if it validates against the schema;
- an array element identical to an earlier element of the same array ends the array there
  (:attr:`JsonPrefix.repeats`): greedy decoding that repeats an item has entered a loop
  (``["Python", "used for", "programming language"]`` until the token budget ran out).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import jsonschema

from kgjudge._errors import ConfigError
from kgjudge._extras import require
from kgjudge._jsonl import MAX_DEPTH, loads_checked

COMPACT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
# close_json parses candidates of at most this many times the text's length, plus CLOSE_BUDGET_CHARS.
CLOSE_BUDGET_TEXTS = 4
CLOSE_BUDGET_CHARS = 200_000


def accepting(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a reply must meet: ``schema`` less its root ``minItems``, which asks a
    constrained decoder for more items but does not make a shorter reply wrong (a reply cut by
    its token budget, a model that starts repeating itself, a backend without constraints).

    Example:
        >>> accepting({"type": "array", "minItems": 5, "maxItems": 9})
        {'type': 'array', 'maxItems': 9}
    """
    if isinstance(schema, dict) and "minItems" in schema:
        return {k: v for k, v in schema.items() if k != "minItems"}
    return schema


def schema_valid(value: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


@dataclass
class _Frame:
    kind: str  # "[" or "{"
    start: int
    elements: list[tuple[int, int]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # the texts of ``elements`` (arrays)
    element_start: int | None = None
    expect_key: bool = False  # objects: the next string is a key


class JsonPrefix:
    """An incremental scanner of a JSON text that is a valid prefix of a JSON value.

    It records where the text could be cut and closed into a complete value (``cuts``), and
    whether the element completed last repeats an earlier element of its array. Work and memory
    grow with the text, not its square, whatever it holds (a reply is untrusted): cuts deeper
    than :data:`~kgjudge._jsonl.MAX_DEPTH` are not recorded (no strict parser reads them), and
    repeats are kept as positions (:attr:`repeat_cuts`) until their text is asked for.

    Example:
        >>> p = JsonPrefix(); p.feed('[["a", "b", "c"], ["a", "b", "c"]')
        >>> p.repeats
        ['[["a", "b", "c"]]']
    """

    def __init__(self) -> None:
        self.text = ""
        self.stack: list[_Frame] = []
        self.cuts: list[tuple[int, str]] = []  # (position, closing brackets)
        self._closer_texts: dict[str, str] = {}  # one string object per distinct closing
        self.done = False
        self._in_string = False
        self._escape = False
        self._string_start = 0
        self._scalar_start: int | None = None
        self.repeat_cuts: list[tuple[int, str]] = []  # a cut before each repeated array element

    @property
    def repeats(self) -> list[str]:
        """The texts closed before each repeated array element, first repeat first."""
        return [self.repeat_text(i) for i in range(len(self.repeat_cuts))]

    def repeat_text(self, index: int) -> str:
        """The text closed before repeat ``index``."""
        at, closers = self.repeat_cuts[index]
        return self.text[:at] + closers

    def _closers(self) -> str | None:
        """What closes the open values, or None when they nest too deeply to be read."""
        if len(self.stack) > MAX_DEPTH:
            return None
        closers = "".join("]" if f.kind == "[" else "}" for f in reversed(self.stack))
        return self._closer_texts.setdefault(closers, closers)

    def _cut(self, at: int) -> None:
        closers = self._closers()
        if closers is not None:
            self.cuts.append((at, closers))

    def _value_started(self, at: int) -> None:
        if self.stack and self.stack[-1].element_start is None:
            self.stack[-1].element_start = at

    def _value_ended(self, end: int) -> None:
        """A value (not a key) ended at ``end`` (exclusive)."""
        if not self.stack:
            self.done = True
            return
        frame = self.stack[-1]
        start = frame.element_start if frame.element_start is not None else end
        if frame.kind == "[":
            element = self.text[start:end]
            closers = self._closers()
            if element in frame.seen and closers is not None:
                self.repeat_cuts.append((frame.elements[-1][1], closers))
            frame.seen.add(element)
        frame.elements.append((start, end))
        frame.element_start = None
        if frame.kind == "{":
            frame.expect_key = True
        self._cut(end)

    def feed(self, chunk: str) -> None:
        base = len(self.text)
        self.text += chunk
        for offset, ch in enumerate(chunk):
            i = base + offset
            if self.done:
                return
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif ch == "\\":
                    self._escape = True
                elif ch == '"':
                    self._in_string = False
                    frame = self.stack[-1] if self.stack else None
                    if frame is not None and frame.kind == "{" and frame.expect_key:
                        frame.expect_key = False
                    else:
                        self._value_ended(i + 1)
                continue
            if self._scalar_start is not None and ch in ",]} \n\r\t":
                self._scalar_start = None
                self._value_ended(i)
                if self.done:
                    return
            if ch == '"':
                frame = self.stack[-1] if self.stack else None
                if not (frame is not None and frame.kind == "{" and frame.expect_key):
                    self._value_started(i)
                self._in_string = True
            elif ch in "[{":
                self._value_started(i)
                self.stack.append(_Frame(ch, i, expect_key=ch == "{"))
                self._cut(i + 1)
            elif ch in "]}":
                if not self.stack:
                    return
                self.stack.pop()
                self._value_ended(i + 1)
            elif ch == ",":
                if self.stack and self.stack[-1].kind == "{":
                    self.stack[-1].expect_key = True
            elif ch in "-0123456789tfn" and self._scalar_start is None:
                self._value_started(i)
                self._scalar_start = i

    def closings(self) -> Iterator[str]:
        """Complete texts from cutting at each recorded point, longest first (made one at a
        time: each is as long as the text)."""
        return (self.text[:at] + closers for at, closers in reversed(self.cuts))


def close_json(text: str, schema: dict[str, Any]) -> str | None:
    """``text`` if it is a complete schema-valid value, else the longest cut of it at a complete
    element, closed, that is; None when there is none.

    Candidates are parsed strictly (:func:`kgjudge._jsonl.loads_checked`): a cut that would nest
    too deeply or keep a lone surrogate escape or NaN is no candidate; they are checked against
    :func:`accepting` ``(schema)``.
    """
    schema = accepting(schema)
    prefix = JsonPrefix()
    prefix.feed(text)
    first_repeat = [prefix.repeat_text(0)] if prefix.repeat_cuts else []
    candidates = chain([text] if prefix.done else [], first_repeat, prefix.closings())
    # Each candidate costs a parse of up to the whole text: when the longest cuts do not
    # validate, a shorter one rarely does, so a long reply gets a bounded number of tries.
    budget = CLOSE_BUDGET_TEXTS * len(text) + CLOSE_BUDGET_CHARS
    for candidate in candidates:
        budget -= len(candidate)
        if budget < 0:
            return None
        try:
            value = loads_checked(candidate)
        except ValueError:
            continue
        if schema_valid(value, schema):
            return candidate
    return None


class JsonGrammar:
    """Token matchers for JSON schemas over one tokenizer (llguidance).

    Args:
        tokenizer: a fast transformers tokenizer.
        vocab_size: the model's output size (may exceed the tokenizer's vocabulary).

    Example:
        >>> grammar = JsonGrammar(tokenizer, model.config.vocab_size)
        >>> matcher = grammar.matcher({"type": "array", "items": {"type": "string"}})
    """

    def __init__(self, tokenizer: Any, vocab_size: int) -> None:
        llguidance = require("llguidance", "hf")
        import llguidance.hf
        import llguidance.torch

        self._llg = llguidance
        self._fill = llguidance.torch.fill_next_token_bitmask
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
        self.vocab_size = vocab_size
        self._grammars: dict[str, str] = {}

    def matcher(self, schema: dict[str, Any]) -> Any:
        """A fresh matcher for ``schema`` (compiled grammars are kept per schema)."""
        key = json.dumps(schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            grammar = self._llg.LLMatcher.grammar_from_json_schema(schema, defaults=COMPACT)
            error, messages = self._llg.LLMatcher.validate_grammar_with_warnings(grammar, self.tokenizer)
            if error:
                raise ConfigError(f"the JSON schema cannot be enforced: {'; '.join(messages)}", key="json_schema")
            self._grammars[key] = grammar
        return self._llg.LLMatcher(self.tokenizer, grammar, log_level=0)

    def allocate(self, rows: int, torch: Any) -> Any:
        """A packed bitmask for ``rows`` rows (32 tokens per int32)."""
        return torch.full((rows, (self.vocab_size + 31) // 32), -1, dtype=torch.int32)

    def fill(self, matcher: Any, bitmask: Any, row: int) -> None:
        self._fill(matcher, bitmask, row)


def apply_bitmask(logits: Any, bitmask: Any, torch: Any) -> None:
    """Set the logits of tokens whose bit is 0 to -inf, in place (any device)."""
    shifts = torch.arange(32, dtype=torch.int32, device=logits.device)
    bits = (bitmask.to(logits.device).unsqueeze(-1) >> shifts) & 1
    allowed = bits.reshape(bitmask.shape[0], -1)[:, : logits.shape[-1]].bool()
    logits.masked_fill_(~allowed, float("-inf"))
