"""Typed records that cross module boundaries.

Every arrow of the data path (documents -> chunks -> entities -> triples -> judgements -> store)
is one of these strict pydantic models: unknown fields are rejected, values are validated, and
records are immutable (use ``model_copy(update=...)``). Records are keyed by ids, never by
position; ids that are not given are derived deterministically from the content.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kgjudge._text import first_control


def stable_id(prefix: str, *parts: Any) -> str:
    """A deterministic id from ``parts``: same parts, same id, on every machine and run.

    Example:
        >>> stable_id("doc", "a.txt", 3)
        'doc-...'
    """
    payload = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    # surrogatepass: text that is not valid Unicode still hashes (to its own id) instead of raising.
    return f"{prefix}-{hashlib.sha256(payload.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def record_id(value: Any) -> str:
    """The id an input record gives itself, as text.

    The rule: an id is a string or an integer. A string is used as it is; it must not be empty
    or blank, and must hold no control character (tab and newline included) or bidirectional
    control. An integer becomes its decimal form, so ``1`` and ``"1"`` are the same id (two
    records with it collide, and the second is rejected). Anything else (a float, true/false,
    null, a list, an object) is not an id.

    Raises:
        ValueError: saying why ``value`` is not an id.

    Example:
        >>> record_id(7), record_id("doc-7")
        ('7', 'doc-7')
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        kind = {bool: "a boolean", float: "a number with a fraction", list: "a list", dict: "an object"}
        got = "null" if value is None else kind.get(type(value), type(value).__name__)
        raise ValueError(f"an id must be a string or an integer, got {got}")
    if isinstance(value, int):
        return str(value)
    if not value.strip():
        raise ValueError("an id must not be empty or blank")
    bad = first_control(value)
    if bad is not None:
        raise ValueError(f"an id must not hold control characters (found {bad})")
    return value


class Record(BaseModel):
    """Base of every record: strict (extra fields are errors) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


NonEmpty = Field(min_length=1)


class ChatMessage(Record):
    """One chat turn.

    Example:
        >>> ChatMessage(role="user", content="Is Paris in France?")
    """

    role: Literal["system", "user", "assistant"]
    content: str


class Document(Record):
    """A source document.

    Attributes:
        id: unique id within a build (file name, JSONL id, or ``<file>:<line>``).
        text: the full original text; chunk and evidence offsets index into it.
        source: where it came from (path or URI).
        line: 1-based line in ``source`` for line-per-document formats.

    Example:
        >>> Document(id="d1", text="Paris is the capital of France.")
    """

    id: str = NonEmpty
    text: str
    source: str | None = None
    line: int | None = Field(default=None, ge=1)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Span(Record):
    """A character span ``[start, end)`` of a document's original text."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str

    @model_validator(mode="after")
    def _check(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before start {self.start}")
        if len(self.text) != self.end - self.start:
            raise ValueError(
                f"span text has {len(self.text)} characters but [{self.start}, {self.end}) "
                f"covers {self.end - self.start}"
            )
        return self


class Chunk(Record):
    """A piece of a document; ``document.text[start:end] == text``.

    Example:
        >>> Chunk(id="d1#0", document_id="d1", index=0, text="Paris", start=0, end=5)
    """

    id: str = NonEmpty
    document_id: str = NonEmpty
    index: int = Field(ge=0)
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> Chunk:
        if self.end < self.start or len(self.text) != self.end - self.start:
            raise ValueError(
                f"chunk offsets [{self.start}, {self.end}) do not match its text length {len(self.text)}"
            )
        return self


class Entity(Record):
    """A named entity found in a document (or a canonical entity after resolution).

    Example:
        >>> Entity(name="Paris", type="city", document_id="d1")
    """

    id: str = ""
    name: str = NonEmpty
    type: str | None = None
    document_id: str | None = None
    chunk_id: str | None = None
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id") and isinstance(data.get("name"), str):
            data = {**data, "id": stable_id("ent", data["name"].casefold(), data.get("document_id"))}
        return data


class ModelRef(Record):
    """Which model produced something: model id, LoRA adapter, prompt template version."""

    model: str = NonEmpty
    adapter: str | None = None
    prompt_version: str | None = None


class Triple(Record):
    """A (head, relation, tail) statement with its provenance.

    ``origin`` tells extracted triples from curated ones (loaded from a file, exempt from judging)
    and gold ones (evaluation data).

    Example:
        >>> Triple(head="Paris", relation="capital of", tail="France", document_id="d1")
    """

    id: str = ""
    head: str = NonEmpty
    relation: str = NonEmpty
    tail: str = NonEmpty
    document_id: str | None = None
    chunk_id: str | None = None
    evidence: Span | None = None
    extractor: ModelRef | None = None
    origin: Literal["extracted", "curated", "gold"] = "extracted"

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            parts = [data.get(k) for k in ("document_id", "chunk_id", "head", "relation", "tail")]
            data = {**data, "id": stable_id("tri", *parts)}
        return data

    def as_tuple(self) -> tuple[str, str, str]:
        """The bare (head, relation, tail)."""
        return (self.head, self.relation, self.tail)


class Judgement(Record):
    """One judge decision about one target (a triple, an example, a query-response pair).

    Attributes:
        target_id: id of what was judged.
        judge: registered judge name with its version, e.g. ``graphjudger.v1``.
        score: the judge's probability that the target is good/supported, in [0, 1].
        label: the decision (True = keep).
        threshold: the threshold the decision used.
        raw_output: what the model returned (log-probabilities as JSON, or text).
    """

    target_id: str = NonEmpty
    judge: str = NonEmpty
    score: float = Field(ge=0.0, le=1.0)
    label: bool
    threshold: float = Field(ge=0.0, le=1.0)
    raw_output: str | None = None
    model: ModelRef | None = None
    reasons: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def failed(
        cls,
        target_id: str,
        judge: str,
        threshold: float,
        reason: str,
        *,
        raw_output: str | None = None,
        model: ModelRef | None = None,
        details: dict[str, Any] | None = None,
    ) -> Judgement:
        """The record of a judge that could not decide (the model gave nothing usable): not
        kept, score 0, ``details["failed"]`` set and the reason given.

        Example:
            >>> Judgement.failed("t1", "graphjudger.v1", 0.5, "no usable log-probabilities").label
            False
        """
        return cls(target_id=target_id, judge=judge, score=0.0, label=False, threshold=threshold,
                   raw_output=raw_output, model=model, reasons=[reason], details={**(details or {}), "failed": True})


class InstructionExample(Record):
    """One instruction-tuning example, normalised to chat messages.

    ``source_format`` records the input shape so the example can be written back unchanged.
    """

    id: str = NonEmpty
    messages: list[ChatMessage] = Field(min_length=1)
    source_format: Literal["alpaca", "sharegpt", "openai", "qa"] = "openai"
    source: str | None = None
    line: int | None = Field(default=None, ge=1)
    metadata: dict[str, Any] = Field(default_factory=dict)


class FilterDecision(Record):
    """The data filter's decision about one example in one round."""

    example_id: str = NonEmpty
    round: int = Field(ge=0)
    kept: bool
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    judgements: list[Judgement] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


CURATION_JUDGE = "curation.v1"
"""The judge name of a person's decision about a triple (see :class:`CurationDecision`). A
curation judgement overrules every model judge: score 1.0 and label True when accepted, 0.0 and
False when rejected."""


class CurationDecision(Record):
    """A person's decision about one triple: accept it, reject it, or correct one of its elements.

    Decisions are logged one per line (``curation.jsonl`` of a build output) and applied to the
    store: the triple becomes ``origin="curated"`` (exempt from judging) with a
    :data:`CURATION_JUDGE` judgement; a correction also stores ``corrected``, the new triple with
    the same document and evidence. The latest decision about a triple is the one that counts.

    Attributes:
        triple: the triple as it was when the decision was made.
        corrected: the corrected triple (``action == "correct"`` only).
        at: when, as an ISO 8601 UTC timestamp.

    Example:
        >>> CurationDecision(action="reject", triple=Triple(head="Paris", relation="capital of", tail="Spain"))
    """

    id: str = ""
    action: Literal["accept", "reject", "correct"]
    triple: Triple
    corrected: Triple | None = None
    note: str | None = None
    at: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            triple = data.get("triple")
            triple_id = triple.id if isinstance(triple, Triple) else (triple or {}).get("id")
            data = {**data, "id": stable_id("cur", triple_id, data.get("action"), data.get("at"))}
        return data

    @model_validator(mode="after")
    def _check(self) -> CurationDecision:
        if (self.action == "correct") != (self.corrected is not None):
            raise ValueError("a correction, and only a correction, carries the corrected triple")
        return self
