"""Safe, stable IRIs minted from untrusted names.

An IRI is ``<base><kind>/<slug>-<hash>``: ``slug`` is the name in Unicode NFKC form, case-folded,
with every run of characters outside ``[a-z0-9]`` turned into one ``-`` and cut to 48
characters (readable, never significant); ``hash`` is the first 16 hex digits of the SHA-256 of
the exact name in UTF-8 (what makes the IRI unique). A name without any ASCII letter or digit
gets ``<base><kind>/<hash>``. The IRI therefore contains only ``[a-z0-9:/-]`` after the base:
no spaces, ``#``, ``<>``, quotes or control characters can reach a serialised file or a
query, and the same name gives the same IRI on every machine and run. The exact name is kept as
an ``rdfs:label`` literal.

Example:
    >>> mint_iri("urn:kgjudge:", "entity", "Marie Curie")
    'urn:kgjudge:entity/marie-curie-...'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

from kgjudge._errors import ConfigError

SLUG_MAX = 48
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# An IRI prefix made only of characters that need no escaping anywhere (RFC 3987 iunreserved
# plus the delimiters a base ends with).
BASE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9._~:/@!$&'()*+,;=%-]*[:/#]$")


def slugify(name: str) -> str:
    """The readable part of an IRI: NFKC, case-folded, ``[a-z0-9]`` runs joined by ``-``."""
    slug = _NOT_SLUG.sub("-", unicodedata.normalize("NFKC", name).casefold()).strip("-")
    return slug[:SLUG_MAX].rstrip("-")


def check_base(base: str) -> str:
    """``base`` when it is a safe IRI prefix ending in ``:``, ``/`` or ``#``; else ConfigError."""
    if not BASE_IRI.match(base):
        raise ConfigError(
            f"base IRI {base!r} must be an absolute IRI of unreserved characters ending in ':', '/' or '#'",
            key="store.base_iri",
        )
    return base


@lru_cache(maxsize=262144)
def mint_iri(base: str, kind: str, name: str) -> str:
    """The IRI of ``name`` (an entity, relation, triple id, ...) of ``kind`` under ``base``."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    slug = slugify(name)
    return f"{base}{kind}/{slug}-{digest}" if slug else f"{base}{kind}/{digest}"
