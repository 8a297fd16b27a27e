"""Per-graph preparation, triple matching and graph matching, in both modes.

Word-level mode cleans each graph first: a triple must have exactly three non-empty elements
(others are counted as malformed and left out), and duplicates (after lower-casing and stripping)
are counted and removed, so they can raise no score. GraphJudger-compatible mode keeps each
graph exactly as the published script sees it, quirks included (see ``docs/evaluation.md``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kgjudge._extras import require
from kgjudge.metrics._io import Graph
from kgjudge.metrics._text import exact_key, normalised_key, render

# What the published script puts in place of a prediction line it cannot parse.
NULL_GRAPH: list[list[str]] = [["Null", "Null", "Null"]]


@dataclass
class Prepared:
    """One graph pair ready for scoring.

    ``pred_keys``/``gold_keys`` are the sets compared by exact triple matching, ``*_norm`` those
    of normalised matching (word-level mode only), ``*_edges`` the sentences scored by G-BLEU,
    G-ROUGE and G-BERTScore, ``*_graph`` the (head, relation, tail) triples used for graph
    matching.
    """

    id: str
    status: str
    pred_keys: set = field(default_factory=set)
    gold_keys: set = field(default_factory=set)
    pred_norm: set | None = None
    gold_norm: set | None = None
    pred_edges: list[str] = field(default_factory=list)
    gold_edges: list[str] = field(default_factory=list)
    pred_graph: list[tuple[str, str, str]] = field(default_factory=list)
    gold_graph: list[tuple[str, str, str]] = field(default_factory=list)
    pred_malformed: int = 0
    gold_malformed: int = 0
    pred_duplicates: int = 0
    gold_duplicates: int = 0


def _clean(items: Sequence[Any]) -> tuple[list[tuple[str, str, str]], int, int]:
    """Well-formed, de-duplicated (exact-key) triples; counts of malformed and duplicate items."""
    seen: dict[tuple[str, str, str], None] = {}
    malformed = duplicates = 0
    for item in items:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 3
            or not all(isinstance(e, (str, int, float)) and not isinstance(e, bool) for e in item)
        ):
            malformed += 1
            continue
        key = (exact_key(item[0]), exact_key(item[1]), exact_key(item[2]))
        if not all(key):
            malformed += 1
        elif key in seen:
            duplicates += 1
        else:
            seen[key] = None
    return list(seen), malformed, duplicates


def prepare_word(gold: Graph, pred: Graph | None) -> Prepared:
    """A pair in word-level mode."""
    if pred is None:
        status, pred_items = "missing", []
    elif pred.error is not None:
        status, pred_items = "unparseable", []
    else:
        status, pred_items = "ok", pred.items
    p_triples, p_bad, p_dup = _clean(pred_items)
    g_triples, g_bad, g_dup = _clean(gold.items)
    if status == "ok" and not p_triples:
        status = "empty"
    return Prepared(
        id=gold.id,
        status=status,
        pred_keys=set(p_triples),
        gold_keys=set(g_triples),
        pred_norm={tuple(normalised_key(e) for e in t) for t in p_triples},
        gold_norm={tuple(normalised_key(e) for e in t) for t in g_triples},
        pred_edges=[render(t) for t in p_triples],
        gold_edges=[render(t) for t in g_triples],
        pred_graph=p_triples,
        gold_graph=g_triples,
        pred_malformed=p_bad,
        gold_malformed=g_bad,
        pred_duplicates=p_dup,
        gold_duplicates=g_dup,
    )


def _compat_item_ok(item: Any) -> bool:
    # The published script iterates each item and indexes it; anything else crashes it.
    return isinstance(item, (list, tuple, str))


def _pad(item: Any) -> tuple[Any, Any, Any]:
    values = list(item)
    while len(values) < 3:
        values.append("NULL")
    return values[0], values[1], values[2]


def _compat_node(value: Any) -> str:
    return str(value).lower().strip()


def prepare_compat(gold: Graph, pred: Graph | None, *, graphs: bool = True) -> Prepared:
    """A pair exactly as the published GraphJudger evaluation sees it.

    * an unparseable or missing prediction becomes ``[["Null", "Null", "Null"]]``; so does one
      whose items are not lists, tuples or strings (the published script crashes on those);
    * triple keys are ``str([str(e).lower().strip() for e in item]).lower()``, collected as sets;
    * graph matching pads a predicted item of one or two elements with ``'NULL'`` *in place*, so
      the padded item is what G-BLEU/G-ROUGE/G-BERTScore see next (the published order of
      computation); gold items are padded for graph matching only (the script crashes on them);
    * edge sentences are ``";".join(str(item)).lower().strip()``: the characters of the item's
      Python repr joined by semicolons.

    ``graphs=False`` leaves ``pred_graph``/``gold_graph`` empty when no graph match is wanted.
    """
    status = "ok"
    items: list[Any]
    if pred is None:
        status, items = "missing", [list(t) for t in NULL_GRAPH]
    elif pred.error is not None or not all(_compat_item_ok(i) for i in pred.items):
        status, items = "unparseable", [list(t) for t in NULL_GRAPH]
    else:
        items = list(pred.items)
        if not items:
            status = "empty"
    gold_items = list(gold.items)
    gold_bad = sum(1 for i in gold_items if not isinstance(i, (list, tuple)) or len(i) != 3)
    pred_bad = sum(1 for i in items if len(i) != 3) if status == "ok" else 0
    gold_ok = all(_compat_item_ok(i) for i in gold_items)

    def key(item: Any) -> str:
        return str([_compat_node(e) for e in item]).lower()

    pred_keys = {key(i) for i in items}
    gold_keys = {key(i) for i in gold_items} if gold_ok else set()
    # graph matching mutates short predicted lists before the edge sentences are built
    padded = [list(_pad(i)) if isinstance(i, list) and 0 < len(i) < 3 else i for i in items]
    pred_graph = [tuple(_compat_node(e) for e in _pad(i)) for i in items] if graphs else []
    gold_graph = [tuple(_compat_node(e) for e in _pad(i)) for i in gold_items] if graphs and gold_ok else []
    return Prepared(
        id=gold.id,
        status=status,
        pred_keys=pred_keys,
        gold_keys=gold_keys,
        pred_edges=[";".join(str(i)).lower().strip() for i in padded],
        gold_edges=[";".join(str(i)).lower().strip() for i in gold_items],
        pred_graph=pred_graph,  # type: ignore[arg-type]
        gold_graph=gold_graph,  # type: ignore[arg-type]
        pred_malformed=pred_bad,
        gold_malformed=gold_bad,
    )


def triple_counts(prepared: Sequence[Prepared], normalised: bool = False) -> list[tuple[int, int, int]]:
    """Per graph ``(true positives, |pred|, |gold|)`` over the sets of triple keys."""
    out = []
    for p in prepared:
        pred, gold = (p.pred_norm, p.gold_norm) if normalised else (p.pred_keys, p.gold_keys)
        pred, gold = pred or set(), gold or set()
        out.append((len(pred & gold), len(pred), len(gold)))
    return out


def _digraph(triples: Sequence[tuple[str, str, str]]) -> Any:
    nx = require("networkx", "eval")
    graph = nx.DiGraph()
    for head, relation, tail in triples:
        graph.add_node(head, name=head)
        graph.add_node(tail, name=tail)
        if graph.has_edge(head, tail):
            graph.edges[head, tail]["labels"] = tuple(sorted({*graph.edges[head, tail]["labels"], relation}))
        else:
            graph.add_edge(head, tail, labels=(relation,))
    return graph


def _same_name(a: dict, b: dict) -> bool:
    return a["name"] == b["name"]


def _same_labels(a: dict, b: dict) -> bool:
    return a["labels"] == b["labels"]


def graph_match(pred: Sequence[tuple[str, str, str]], gold: Sequence[tuple[str, str, str]]) -> bool:
    """Isomorphism that compares entity names (node_match) as well as relation labels.

    Parallel triples between the same two entities form one edge labelled with their set of
    relations, so a graph matches only when its triples are those of the gold graph.

    Example:
        >>> graph_match([("paris", "capital of", "france")], [("rome", "capital of", "france")])
        False
    """
    nx = require("networkx", "eval")
    return bool(nx.is_isomorphic(_digraph(pred), _digraph(gold), node_match=_same_name, edge_match=_same_labels))


def compat_graph_match(pred: Sequence[tuple[str, str, str]], gold: Sequence[tuple[str, str, str]]) -> bool:
    """The published graph match: DiGraph isomorphism comparing edge labels but not node labels.

    A parallel edge overwrites the previous one's label, as ``DiGraph.add_edge`` does.
    """
    nx = require("networkx", "eval")
    graphs = []
    for triples in (gold, pred):
        graph = nx.DiGraph()
        for head, relation, tail in triples:
            graph.add_node(head, label=head)
            graph.add_node(tail, label=tail)
            graph.add_edge(head, tail, label=relation)
        graphs.append(graph)
    return bool(nx.is_isomorphic(graphs[0], graphs[1], edge_match=lambda x, y: x == y))


def graph_edit_distance(
    pred: Sequence[tuple[str, str, str]], gold: Sequence[tuple[str, str, str]], timeout: float = 2.0
) -> tuple[float, float, bool]:
    """Graph edit distance with node names and relation labels; ``(ged, normalised, exact)``.

    The normalised value divides by the cost of deleting one graph and inserting the other
    (nodes plus edges of both), so it lies in [0, 1]. networkx returns its best path so far when
    ``timeout`` runs out; ``exact`` is then False and the distance an upper bound.
    """
    nx = require("networkx", "eval")
    g_pred, g_gold = _digraph(pred), _digraph(gold)
    bound = g_pred.number_of_nodes() + g_pred.number_of_edges() + g_gold.number_of_nodes() + g_gold.number_of_edges()
    if bound == 0:
        return 0.0, 0.0, True
    started = time.perf_counter()
    ged = nx.graph_edit_distance(
        g_gold, g_pred, node_match=_same_name, edge_match=_same_labels, timeout=timeout
    )
    exact = time.perf_counter() - started < timeout
    ged = float(bound if ged is None else ged)
    return ged, ged / bound, exact
