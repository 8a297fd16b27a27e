"""The one prompt builder of the judges: training, inference and evaluation all call it, so the
text a LoRA adapter was trained on is exactly the text it is asked at inference.

Templates are the versioned files in ``kgjudge/prompts``; a builder records the version it used.
Long documents are cut to ``max_document_chars`` (at a word boundary) by the same code path
everywhere, and the document always precedes the triple, so every triple of one document shares
the document's prompt prefix (the transformers backend computes it once, vLLM's prefix cache
reuses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kgjudge._prompts import cut_document, render
from kgjudge._records import ChatMessage
from kgjudge.llm import LLMRequest

JUDGE_PROMPT = "triple_judge.v1"
META_RANK_PROMPT = "meta_rank.v1"
YES, NO = "Yes", "No"
JUDGE_CHOICES = [YES, NO]
A, B = "A", "B"
PAIR_CHOICES = [A, B]


def judge_messages(
    document: str | None,
    head: str,
    relation: str,
    tail: str,
    *,
    prompt: str = JUDGE_PROMPT,
    max_document_chars: int | None = None,
) -> list[ChatMessage]:
    """The chat messages asking whether (head, relation, tail) holds given ``document``.

    Example:
        >>> judge_messages("Paris is in France.", "Paris", "country", "France")[0].content
        'Document:\\nParis is in France.\\n\\nIs this true: Paris country France?\\nAnswer Yes or No.'
    """
    text = render(
        prompt,
        document=cut_document(document, max_document_chars) if document else "",
        head=head,
        relation=relation,
        tail=tail,
    )
    return [ChatMessage(role="user", content=text)]


def judge_request(
    document: str | None,
    head: str,
    relation: str,
    tail: str,
    *,
    prompt: str = JUDGE_PROMPT,
    max_document_chars: int | None = None,
    adapter: str | None = None,
) -> LLMRequest:
    """The ``score_choices`` request for one triple (choices ``Yes`` / ``No``)."""
    messages = judge_messages(
        document, head, relation, tail, prompt=prompt, max_document_chars=max_document_chars
    )
    return LLMRequest(messages=messages, choices=list(JUDGE_CHOICES), adapter=adapter, max_tokens=1)


def judge_answer(label: bool) -> str:
    """The training target of a judge example."""
    return YES if label else NO


def pair_messages(
    a_query: str, a_response: str, b_query: str, b_response: str, *, prompt: str = META_RANK_PROMPT
) -> list[ChatMessage]:
    """The pairwise Meta Ranking question: which of candidates A and B is more likely correct."""
    text = render(prompt, a_query=a_query, a_response=a_response, b_query=b_query, b_response=b_response)
    return [ChatMessage(role="user", content=text)]


def triple_query(document: str | None, *, max_document_chars: int | None = None) -> str:
    """The question a triple answers in Meta Ranking: is it supported by its document?"""
    if not document:
        return "Is this triple true?"
    return f"Is this triple supported by this document?\n{cut_document(document, max_document_chars)}"


def triple_response(head: str, relation: str, tail: str) -> str:
    """A triple written as a Meta Ranking response."""
    return f"({head}; {relation}; {tail})"


def prompt_token_ids(tokenizer: Any, messages: Sequence[ChatMessage]) -> list[int]:
    """Token ids of a chat prompt up to the assistant's turn, built as the ``hf`` backend builds
    them (the chat template with the generation prompt, or ``role: content`` lines without one)."""
    dicts = [m.model_dump() for m in messages]
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    text = "".join(f"{m['role']}: {m['content']}\n" for m in dicts) + "assistant: "
    return list(tokenizer(text)["input_ids"])
