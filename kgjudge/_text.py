"""Untrusted text made safe to store, hash and print.

Model replies and input records can hold what valid text cannot: lone UTF-16 surrogates
(``\\ud800``, which no UTF-8 file can hold) and control characters (terminal escape sequences,
bidirectional overrides). These helpers are the one place that decides what becomes of them.
"""

from __future__ import annotations

import re
import unicodedata

SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls except tab and newline, DEL, and the bidirectional embeddings, overrides and
# isolates, which can make a line display differently from what it holds.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# scheme://user:password@ or scheme://token@ : the credentials part of a URL.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s\"']+@")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as the six characters ``\\udXXX``.

    The result is valid Unicode (it can be written as UTF-8) and shows where the invalid code
    points were; text without surrogates comes back unchanged.

    Example:
        >>> escape_surrogates("a\\ud800b")
        'a\\\\ud800b'
    """
    return SURROGATE.sub(_escape, text) if not text.isascii() else text


def replace_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, as a UTF-8 decoder replaces bytes
    it cannot read. Used for model replies: unlike an escape, it cannot turn back into a
    surrogate when the reply is parsed as JSON."""
    return SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def find_surrogate(text: str) -> str | None:
    """The first lone surrogate of ``text`` as ``\\udXXX``, or None when there is none."""
    if text.isascii():
        return None
    match = SURROGATE.search(text)
    return None if match is None else _escape(match)


def printable(text: str) -> str:
    """``text`` for a terminal: control characters (except newline and tab) and bidirectional
    controls shown as ``\\x1b`` / ``\\u202e`` escapes instead of acting on the terminal; lone
    surrogates shown the same way.

    Example:
        >>> printable("\\x1b[31mred")
        '\\\\x1b[31mred'
    """
    if text.isascii() and text.isprintable():
        return text
    return escape_surrogates(_UNPRINTABLE.sub(_escape, text))


def first_control(text: str) -> str | None:
    """The first control character (tab and newline included) or bidirectional control of
    ``text`` as an escape such as ``\\x1b``, or None when there is none."""
    if text.isascii() and text.isprintable():
        return None
    for char in text:
        if unicodedata.category(char) == "Cc" or _UNPRINTABLE.match(char):
            return _escape(re.match(".", char, re.S))  # type: ignore[arg-type]
    return None


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it (``user:password@``) replaced by
    ``***@``, for messages and files that must never show a secret.

    Example:
        >>> redact_urls("cannot reach http://me:sk-123@host/v1")
        'cannot reach http://***@host/v1'
    """
    return _URL_CREDENTIALS.sub(r"\1***@", text) if "@" in text else text


def url_credentials(text: str) -> bool:
    """Whether ``text`` holds a URL with credentials (``scheme://user:password@host``)."""
    return "@" in text and _URL_CREDENTIALS.search(text) is not None
