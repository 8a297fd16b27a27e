"""The page in a real headless Chromium (Debian's chromium and chromium-driver, through
Selenium) against a real uvicorn server over a real build: search, click an edge of the graph
and see its evidence, ask and open a cited fact, reject a fact and find it rejected after a
reload, hostile text shown as text, the token, the runs view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from _serving import HOSTILE, running_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def wait(driver, condition, timeout: float = 30):  # noqa: ANN001, ANN201
    """Wait for ``condition``; the page re-renders panels, so stale elements are looked up again."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)


def by_id(driver, name: str):  # noqa: ANN001, ANN201
    from selenium.webdriver.common.by import By

    return wait(driver, lambda d: d.find_element(By.ID, name))


def text_of(driver, name: str, expected: str) -> str:  # noqa: ANN001
    return wait(driver, lambda d: (t := by_id(d, name).text) and expected in t and t)


def console_errors(driver) -> list[str]:  # noqa: ANN001
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def click_edge(driver, triple_id: str) -> None:  # noqa: ANN001
    """Click the middle of the edge of ``triple_id`` on the graph's canvas, as a person would."""
    from selenium.webdriver.common.action_chains import ActionChains

    x, y = driver.execute_script(
        "const e = window.kgjudge.cy.getElementById(window.kgjudge.edgeId(arguments[0]));"
        "const p = e.renderedMidpoint(); return [p.x, p.y];", triple_id)
    graph = by_id(driver, "graph")
    size = graph.size
    ActionChains(driver).move_to_element_with_offset(graph, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()


def kept_id(out: Path, relation: str) -> str:
    return next(json.loads(x)["id"] for x in (out / "triples.jsonl").read_text().splitlines()
                if json.loads(x)["relation"] == relation)


@pytest.fixture
def site(build_copy: Path) -> Iterator[str]:
    from kgjudge.serve import open_explorer

    with running_server(open_explorer(build_copy, allow_edit=True)) as url:
        yield url


def test_search_an_entity_click_a_fact_and_see_its_evidence(browser, site: str, build_copy: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    text_of(browser, "stats", "9 triples")
    by_id(browser, "search").send_keys("Marie Curei")                   # a misspelling
    hit = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '#search-results li[data-name="Marie Curie"]'))
    assert "fuzzy" in hit.text
    hit.click()
    text_of(browser, "facts-count", "4")
    born = kept_id(build_copy, "place of birth")
    click_edge(browser, born)
    title = text_of(browser, "fact-title", "place of birth")
    assert "Marie Curie" in title and "Warsaw" in title
    mark = wait(browser, lambda d: d.find_element(By.ID, "evidence"))
    assert mark.text == "Marie Curie was born in Warsaw." and mark.tag_name == "mark"
    assert "She won the Nobel Prize" in by_id(browser, "document").text
    provenance = by_id(browser, "provenance").text
    assert "triple_extract.v1" in provenance and "fake" in provenance and "curie#0" in provenance
    assert "graphjudger.v1" in by_id(browser, "judgements").text
    assert console_errors(browser) == []


def test_ask_a_question_and_open_a_cited_fact(browser, site: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    text_of(browser, "stats", "9 triples")
    browser.find_element(By.CSS_SELECTOR, 'nav button[data-tab="ask"]').click()
    by_id(browser, "question").send_keys("Where was Marie Curie born?")
    by_id(browser, "ask").click()
    assert text_of(browser, "answer-text", "Warsaw") == "Warsaw"
    cited = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#citations button"))
    label = cited.text
    assert label.startswith("[T1]")
    cited.click()
    title = text_of(browser, "fact-title", "Marie Curie")
    assert title.split("\u2192")[-1].strip() in label
    # the fact is now shown in the explorer too
    wait(browser, lambda d: int(d.find_element(By.ID, "facts-count").get_attribute("textContent")) >= 4)
    assert console_errors(browser) == []


def test_reject_a_fact_and_find_it_rejected_after_a_reload(browser, site: str, build_copy: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    died = kept_id(build_copy, "place of death")
    browser.get(site + "/?triple=" + quote(died, safe=""))
    text_of(browser, "fact-title", "place of death")
    assert by_id(browser, "fact-status").text == "kept"
    by_id(browser, "curation-note").send_keys("she died in Passy")
    by_id(browser, "reject").click()
    wait(browser, lambda d: d.find_element(By.ID, "fact-status").text == "rejected")
    # gone from the graph (rejected facts are hidden unless asked for)
    wait(browser, lambda d: d.execute_script(
        "return window.kgjudge.cy.getElementById(window.kgjudge.edgeId(arguments[0])).data('rejected')", died))

    browser.get(site + "/?triple=" + quote(died, safe=""))
    text_of(browser, "fact-title", "place of death")
    assert by_id(browser, "fact-status").text == "rejected"
    assert "reject" in by_id(browser, "decisions").text and "she died in Passy" in by_id(browser, "decisions").text
    assert "curation.v1" in by_id(browser, "judgements").text
    log = [json.loads(x) for x in (build_copy / "curation.jsonl").read_text().splitlines()]
    assert [(d["action"], d["triple"]["id"], d["note"]) for d in log] == [("reject", died, "she died in Passy")]
    # after a reload the explorer hides it; "show rejected" brings it back, dashed
    browser.get(site + "/?entity=Marie%20Curie")
    text_of(browser, "facts-count", "3")
    by_id(browser, "show-rejected").click()
    text_of(browser, "facts-count", "4")
    assert console_errors(browser) == []


def test_a_hostile_document_shows_its_markup_as_text(browser, site: str, build_copy: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    wrote = kept_id(build_copy, "wrote")
    browser.get(site + "/?triple=" + quote(wrote, safe=""))
    title = text_of(browser, "fact-title", "Mallory")
    assert HOSTILE in title
    document = text_of(browser, "document", "<script>")
    assert HOSTILE in document and '<script>document.title="pwned"</script>' in document
    assert browser.find_elements(By.CSS_SELECTOR, "#side script, #side img, #answer script") == []
    assert browser.title != "pwned" and browser.title.startswith("kgjudge")
    # the hostile entity name in the search list and the fact list is text too
    box = by_id(browser, "search")
    box.clear()
    box.send_keys("script")
    hit = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#search-results li[data-name]"))
    assert hit.get_attribute("data-name") == HOSTILE and "<script>" in hit.text
    assert browser.find_elements(By.CSS_SELECTOR, "#search-results script, #search-results img") == []
    assert browser.title != "pwned"
    assert console_errors(browser) == []


def test_the_runs_view_links_each_rejected_input_to_its_reason(browser, site: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    text_of(browser, "stats", "9 triples")
    browser.find_element(By.CSS_SELECTOR, 'nav button[data-tab="runs"]').click()
    reject = wait(browser, lambda d: d.find_element(By.ID, "reject-0-0"))
    summary = reject.find_element(By.TAG_NAME, "summary")
    assert summary.text.endswith("-docs.jsonl:2")
    summary.click()
    assert "invalid JSON" in reject.find_element(By.TAG_NAME, "p").text
    counts = by_id(browser, "run-0").text.lower()     # headings are shown in capitals
    assert "rejected triples 2" in counts and "scores: graphjudger.v1" in counts
    assert len(browser.find_elements(By.CSS_SELECTOR, "#run-0 .hist div")) == 20
    rejected = browser.find_elements(By.CSS_SELECTOR, "#rejected-0 details")
    assert len(rejected) == 2
    rejected[0].find_element(By.TAG_NAME, "summary").click()
    rejected[0].find_element(By.CSS_SELECTOR, "button").click()
    assert by_id(browser, "fact-status").text == "rejected"
    assert console_errors(browser) == []


def test_the_page_sends_the_token(browser, built: Path) -> None:  # noqa: ANN001
    from kgjudge.serve import Guard, open_explorer

    token = "browser-test-token"
    with running_server(open_explorer(built), Guard(token=token)) as url:
        browser.delete_all_cookies()
        browser.get(url + "/")
        assert "token is required" in browser.page_source
        browser.get(url + f"/?token={token}")
        assert "token" not in browser.current_url
        text_of(browser, "stats", "9 triples")
        browser.get(url + "/?entity=Warsaw")
        text_of(browser, "facts-count", "3")
        browser.delete_all_cookies()
