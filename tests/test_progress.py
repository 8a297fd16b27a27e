"""Progress of long commands: the LLM client's hook counts requests as they finish, within a
batch when the backend reports them; on a terminal (a pseudo-terminal here) the commands show
their unit and the model requests moving; with --no-progress or piped, stderr holds no bar and no
control character."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from kgjudge import _progress
from kgjudge._cache import ResponseCache
from kgjudge._progress import Progress
from kgjudge.llm import LLM, FakeBackend, FakeConfig, LLMRequest

from _support import record_requests_done

# The command line, with every request of the fake backend taking LATENCY seconds (it reports
# each request finished as it goes, like the transformers backend reports each micro-batch).
SLOW_CLI = """
import os, sys, time
import kgjudge.llm._fake as fake

report, latency = fake.report_finished, float(os.environ["LATENCY"])

def slowly(n=1, **counts):
    time.sleep(latency)
    report(n, **counts)

fake.report_finished = slowly
from kgjudge.cli import main
sys.argv = ["kgjudge", *sys.argv[1:]]
main()
"""


def kgjudge(latency: float) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-c", SLOW_CLI], {**os.environ, "HF_HUB_OFFLINE": "1", "LATENCY": str(latency)}


def test_the_client_reports_each_request_of_a_batch_as_the_backend_finishes_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events = record_requests_done(monkeypatch)
    cache = ResponseCache(tmp_path / "cache")
    llm = LLM(FakeBackend(FakeConfig(default_reply="one two")), cache)
    requests = [LLMRequest(prompt=f"question {i}", max_tokens=8) for i in range(4)]
    with Progress("test", "questions", 4, enabled=False) as progress:
        llm.generate_sync(requests)
        # one event per request while the batch runs (the fake backend reports each), not one at the end
        assert [e[:3] for e in events] == [(1, 1, 0)] * 4
        assert progress.sent == progress.finished == progress.calls == 4
        assert progress.tokens == sum(e[3] for e in events) == 4 * (2 + 2)
        # answered from the cache: at once, as cache hits, no model call
        llm.generate_sync(requests)
        assert events[-1] == (4, 0, 4, 0)
        assert (progress.sent, progress.finished, progress.calls, progress.cached) == (8, 8, 4, 4)
    llm.close()


def test_what_a_backend_does_not_report_is_reported_when_its_batch_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    events = record_requests_done(monkeypatch)

    class Silent(FakeBackend):
        """Reports one request of its batch, then nothing (like a backend without the hook)."""

        async def score_batch(self, requests):  # type: ignore[no-untyped-def]
            from kgjudge.llm import report_finished

            report_finished(1, tokens=5)
            report_finished(1000)  # more than the batch holds: capped
            return await FakeBackend.score_batch(self, requests)

    llm = LLM(Silent(FakeConfig()), None)
    with Progress("test", "triples", 3, enabled=False) as progress:
        llm.score_choices_sync([LLMRequest(prompt=f"p{i}", choices=["Yes", "No"]) for i in range(3)])
    assert [e[:3] for e in events] == [(1, 1, 0), (2, 2, 0)]
    assert progress.finished == progress.calls == 3


def test_requests_outside_an_open_progress_are_not_counted() -> None:
    llm = LLM(FakeBackend(FakeConfig()), None)
    llm.generate_sync([LLMRequest(prompt="x")])  # no Progress open: nothing to feed, nothing breaks
    with Progress("outer", "documents", 1, enabled=False) as outer:
        with Progress("inner", "triples", 1, enabled=False) as inner:
            llm.generate_sync([LLMRequest(prompt="y")])
    assert (outer.sent, inner.sent) == (0, 1)


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress("build", "documents", 3) as progress:
        _progress.requests_sent(2)
        _progress.requests_done(2, calls=2, tokens=10)
        progress.advance(3)
    assert not progress.shown and capsys.readouterr().err == ""


# -- the commands on a pseudo-terminal --------------------------------------------------------

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but tab and newline


def run_on_terminal(args: list[str], cwd: Path, latency: float = 0.03) -> tuple[int, str, str]:
    """Run kgjudge with stderr on a pseudo-terminal of 120 columns; (status, stdout, stderr)."""
    main, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    command, env = kgjudge(latency)
    proc = subprocess.Popen([*command, *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.wait(timeout=120)
    return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace")


def run_piped(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command, env = kgjudge(0.0)
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Five documents, and a fake backend with a judge."""
    pytest.importorskip("spacy")
    docs = [{"id": f"d{i}", "text": f"Document {i}. Marie Curie was born in Warsaw. She moved to Paris."}
            for i in range(5)]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    (tmp_path / "fake.yaml").write_text(
        "backends:\n"
        "  default:\n"
        "    type: fake.v1\n"
        "    rules:\n"
        "      - {match: 'as knowledge-graph triples', reply: '[[\"Marie Curie\", \"born in\", \"Warsaw\"]]'}\n"
        "      - {match: 'List the named entities', reply: '{\"entities\": [\"Marie Curie\"]}'}\n"
        "    choice_logprobs: {'Yes': -0.1, 'No': -2.5}\n"
        "judge: {type: graphjudger.v1}\n"
        "cache: {enabled: false}\n",
        encoding="utf-8",
    )
    return tmp_path


def test_a_build_on_a_terminal_shows_documents_and_requests_moving_within_its_one_batch(workdir: Path) -> None:
    status, out, err = run_on_terminal(["build", "docs.jsonl", "-o", "out", "-c", "fake.yaml"], workdir)
    assert status == 0, err
    assert "graph in out" in out and "\r" not in out
    assert "build:" in err and "0/5 documents" in err and "5/5 documents" in err
    # one batch of five documents: the request line moves while the document count is still 0
    before_done = err[: err.index("5/5 documents")]
    finished = {int(n) for n in re.findall(r"model: (\d+)/\d+ requests", before_done)}
    assert len(finished) >= 5 and max(finished) > 0
    assert re.search(r"model: \d+/\d+ requests \[[\d:]+<[\d:?]+, [^\]]*calls \d+, cached 0, tokens [\d.k]+\]", err)


def test_no_progress_and_a_pipe_leave_stderr_clean(workdir: Path) -> None:
    status, out, err = run_on_terminal(["build", "docs.jsonl", "-o", "out", "-c", "fake.yaml", "--no-progress"], workdir)
    assert status == 0, err
    assert "graph in out" in out
    assert not CONTROL.search(err.replace("\r\n", "\n")) and "build:" not in err and "model:" not in err

    piped = run_piped(["build", "docs.jsonl", "-o", "out2", "-c", "fake.yaml"], workdir)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == "" and not CONTROL.search(piped.stdout)


def test_judge_triples_on_a_terminal_counts_triples_and_requests(workdir: Path) -> None:
    assert run_piped(["build", "docs.jsonl", "-o", "out", "-c", "fake.yaml"], workdir).returncode == 0
    # requests slower than the bar's refresh interval (0.1 s), so each one shows
    status, out, err = run_on_terminal(
        ["judge", "triples", "-c", "fake.yaml", "-t", "out/triples.jsonl", "--documents", "out/documents.jsonl",
         "-o", "judged.jsonl"], workdir, latency=0.2)
    assert status == 0, err
    assert json.loads(out)["triples"] == 5
    assert "judge:" in err and "0/5 triples" in err and "5/5 triples" in err
    assert {int(n) for n in re.findall(r"model: (\d+)/5 requests", err)} >= {1, 2, 3, 4}


def test_eval_graphs_on_a_terminal_counts_graphs(workdir: Path) -> None:
    gold = workdir / "gold.source"
    gold.write_text("[['a', 'r', 'b']]\n[['c', 'r', 'd']]\n", encoding="utf-8")
    status, out, err = run_on_terminal(["eval", "graphs", "gold.source", "gold.source", "-o", "r"], workdir)
    assert status == 0, err
    assert "score:" in err and "2/2 graphs" in err
