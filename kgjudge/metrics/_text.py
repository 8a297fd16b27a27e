"""Normalisation and tokenisation of triple elements.

Word-level mode renders a triple as ``"head ; relation ; tail"`` and splits it into Unicode word
tokens (the ``;`` separators carry no tokens, so unrelated triples share nothing for free).
GraphJudger-compatible mode uses the tokenisers of the published script instead: a blank spaCy
English tokenizer with ``;`` as its only infix rule (BLEU) and rouge-score's own tokenizer with
Porter stemming (ROUGE).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from kgjudge._extras import require

_WORD_RE = re.compile(r"\w+")
_SPACE_RE = re.compile(r"\s+")
_ASCII_PUNCT = {ord(ch): " " for ch in map(chr, range(128)) if unicodedata.category(ch)[0] in "PS"}


def exact_key(element: Any) -> str:
    """The element compared by exact matching: lower-cased and stripped."""
    return str(element).lower().strip()


def normalised_key(element: Any) -> str:
    """The element compared by normalised matching; see :func:`normalise`."""
    return normalise(str(element))


@functools.lru_cache(maxsize=1 << 16)
def normalise(text: str) -> str:
    """The element compared by normalised matching.

    Unicode NFKC, case folding, punctuation and symbols turned into spaces, whitespace collapsed:
    ``"São  Paulo (city)"`` and ``"sao paulo city"`` differ only in the accent, which is kept.

    Example:
        >>> normalise("  The Beatles' “Help!” ")
        'the beatles help'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        text = text.translate(_ASCII_PUNCT)
    else:
        text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return _SPACE_RE.sub(" ", text).strip()


def render(triple: tuple[str, ...]) -> str:
    """The word-level sentence of a triple: ``"head ; relation ; tail"``."""
    return " ; ".join(triple)


def word_tokens(text: str) -> list[str]:
    """Unicode word tokens of ``text`` (NFKC, case-folded); punctuation is dropped."""
    return _WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def _porter() -> Any:
    return require("nltk.stem.porter", "eval").PorterStemmer()


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """rouge-score's stemming of one word: Porter for words over three characters (memoised)."""
    return _porter().stem(word) if len(word) > 3 else word


@functools.cache
def _word_rouge_tokenizer_class() -> type:
    tokenizers = require("rouge_score.tokenizers", "eval")

    class WordRougeTokenizer(tokenizers.Tokenizer):
        """:func:`word_tokens`, each stemmed by :func:`stem`."""

        def tokenize(self, text: str) -> list[str]:
            return [stem(w) for w in word_tokens(text)]

    return WordRougeTokenizer


def rouge_tokenizer(compat: bool) -> Any:
    """The ROUGE tokenizer of a mode, usable as ``RougeScorer(tokenizer=...)``.

    Compat mode: rouge-score's default with stemming (it drops every non-ASCII letter, so
    "Zürich" becomes "z rich"). Word-level mode keeps Unicode words and stems them the same way.

    Example:
        >>> rouge_tokenizer(compat=False).tokenize("Zürich ; located in ; Switzerland")
        ['zürich', 'locat', 'in', 'switzerland']
    """
    if compat:
        tokenizers = require("rouge_score.tokenizers", "eval")
        return tokenizers.DefaultTokenizer(use_stemmer=True)
    return _word_rouge_tokenizer_class()()


def spacy_semicolon_tokenizer() -> Any:
    """The published script's BLEU tokenizer: blank English vocabulary, ``;`` as the only infix."""
    spacy_en = require("spacy.lang.en", "nlp")
    spacy_tok = require("spacy.tokenizer", "nlp")
    return spacy_tok.Tokenizer(spacy_en.English().vocab, infix_finditer=re.compile(r"[;]").finditer)
