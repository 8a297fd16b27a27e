"""The Neo4j store against a real Bolt server (ArcadeDB, or Neo4j at NEO4J_URI), and its
failure modes against no server at all."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from _corpus import HOSTILE, hostile_records

from kgjudge import ConfigError, StoreError, Triple, parse_config
from kgjudge.graph import Neo4jConfig, Neo4jStore, build_store

neo4j = pytest.importorskip("neo4j")


@pytest.fixture
def store(bolt_server: dict) -> Iterator[Neo4jStore]:
    opened = build_store(bolt_server)
    opened.clear()
    try:
        yield opened
    finally:
        opened.close()


def cypher(store: Neo4jStore, query: str, **params: object) -> list[dict]:
    with store._driver.session(database=store.config.database) as session:
        return session.run(query, params).data()


@pytest.mark.bolt
def test_relation_names_are_data_of_one_relationship_type(store: Neo4jStore) -> None:
    cypher(store, "CREATE (:Sentinel {name: 'keep me'})")
    triples, judgements = hostile_records()
    store.upsert(triples, judgements)
    assert cypher(store, "MATCH (s:Sentinel) RETURN s.name AS name") == [{"name": "keep me"}]
    types = cypher(store, "MATCH ()-[r]->() RETURN DISTINCT type(r) AS t")
    assert types == [{"t": "RELATION"}]
    stored = cypher(store, "MATCH ()-[r:RELATION]->() RETURN r.relation AS rel")
    assert sorted(r["rel"] for r in stored) == sorted(t.relation for t in triples)
    labels = {row["l"] for row in cypher(store, "MATCH (n) UNWIND labels(n) AS l RETURN DISTINCT l")}
    assert labels == {"Entity", "Judgement", "Sentinel"}
    names = {n for t in triples for n in (t.head, t.tail)}
    assert cypher(store, "MATCH (e:Entity) RETURN count(e) AS n") == [{"n": len(names)}]
    # The query text is the same whatever the data: values only ever travel as parameters.
    assert store.search(HOSTILE[5])[0].entity.name == HOSTILE[5]


@pytest.mark.bolt
def test_schema_is_created_once_and_features_are_detected(bolt_server: dict) -> None:
    with build_store(bolt_server) as first, build_store(bolt_server) as second:
        assert first.features == second.features
        assert first.features.embeddings
        names = {r["name"] for r in cypher(first, "SHOW CONSTRAINTS")}
        assert {"kgjudge_entity_key", "kgjudge_judgement_key"} <= names
        indexes = {r["name"] for r in cypher(first, "SHOW INDEXES")}
        assert "kgjudge_judgement_triple" in indexes
        if "ArcadeDB" in first._driver.get_server_info().agent:
            # ArcadeDB speaks Bolt but has neither APOC nor full-text or vector indexes.
            assert not (first.features.apoc or first.features.fulltext_index or first.features.vector_index)


@pytest.mark.bolt
def test_transient_errors_are_retried(store: Neo4jStore) -> None:
    calls = []

    def work(tx):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) < 3:
            raise neo4j.exceptions.TransientError("simulated deadlock")
        return tx.run("RETURN 41 + 1 AS n").single()["n"]

    assert store._run(work, "a flaky step") == 42
    assert len(calls) == 3

    def always(tx):  # noqa: ANN001, ANN202
        calls.append(1)
        raise neo4j.exceptions.TransientError("simulated overload")

    calls.clear()
    with pytest.raises(StoreError, match="a flaky step failed after 5 attempt"):
        store._run(always, "a flaky step")
    assert len(calls) == store.config.max_attempts == 5


@pytest.mark.bolt
def test_client_errors_are_not_retried(store: Neo4jStore) -> None:
    calls = []

    def broken(tx):  # noqa: ANN001, ANN202
        calls.append(1)
        tx.run("THIS IS NOT CYPHER").consume()

    with pytest.raises(StoreError, match="after 1 attempt"):
        store._run(broken, "a broken step")
    assert len(calls) == 1


@pytest.mark.bolt
def test_batches_are_about_a_thousand_rows(store: Neo4jStore, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = []
    real = store._write_batch

    def spy(batch, judgements):  # noqa: ANN001, ANN202
        sizes.append(len(batch))
        return real(batch, judgements)

    monkeypatch.setattr(store, "_write_batch", spy)
    triples = [Triple(head=f"n{i % 97}", relation=f"r{i % 5}", tail=f"n{(i * 7) % 97}", chunk_id=str(i))
               for i in range(2500)]
    store.upsert(triples)
    assert sizes == [1000, 1000, 500]
    assert store.stats().triples == 2500
    store.upsert(triples)
    assert store.stats().triples == 2500


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_a_clear_store_error_after_bounded_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGJUDGE_TEST_DEAD_URI", f"bolt://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("KGJUDGE_TEST_DEAD_PASSWORD", "unused-password")
    config = Neo4jConfig(uri="${env:KGJUDGE_TEST_DEAD_URI}", user="neo4j", password="${env:KGJUDGE_TEST_DEAD_PASSWORD}",
                         max_attempts=3, retry_wait_s=0.05, connection_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(StoreError) as info:
        Neo4jStore(config)
    assert time.monotonic() - started < 20
    message = str(info.value)
    assert "127.0.0.1" in message and "after 3 attempt(s)" in message and "ServiceUnavailable" in message
    assert "unused-password" not in message


def test_credentials_come_only_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="store.password"):
        parse_config({"store": {"type": "neo4j.v1", "uri": "bolt://localhost:7687", "password": "hunter2"}})
    monkeypatch.delenv("NEO4J_URI", raising=False)
    config = parse_config({"store": {"type": "neo4j.v1", "password": "${env:NEO4J_PASSWORD}"}})
    with pytest.raises(ConfigError, match="NEO4J_URI is not set"):
        build_store(config.store)
    with pytest.raises(ConfigError) as info:
        parse_config({"store": {"type": "neo4j.v1", "passwrd": "${env:X}"}})
    assert info.value.key == "store.passwrd" and "password" in (info.value.choices or [])
