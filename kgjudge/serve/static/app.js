// The kgjudge explorer page. Everything a model or a document produced (names, relations,
// document text, answers, reasons) is put on the page as text nodes, never parsed as markup:
// elements are built with el() below, and no string is ever assigned as HTML.
"use strict";

(function () {
  const state = {
    info: null,
    cy: null,
    facts: new Map(),      // triple id -> Fact shown in the graph
    more: new Map(),       // entity name -> triples not loaded yet
    offsets: new Map(),    // entity name -> how many of its own triples were asked for
    current: null,         // the FactDetail in the fact panel
    searchTimer: null,
  };
  const PAGE = 40;

  // -- small utilities -------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function toast(message, isError) {
    const box = $("toast");
    box.textContent = message;
    box.className = "show" + (isError ? " error" : "");
    clearTimeout(box.timer);
    box.timer = setTimeout(() => { box.className = ""; }, isError ? 6000 : 2500);
  }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.json !== undefined) {
      opts.method = opts.method || "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    const response = await fetch(path, opts);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
    }
    return body;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) search.set(k, String(v));
    return search.toString();
  }

  function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "\u2026" : text; }

  function pct(x) { return (Math.round(x * 1000) / 1000).toFixed(3); }

  // Confidence 0 -> red, 0.5 -> amber, 1 -> green.
  function colour(confidence) {
    const stops = [[0, [192, 57, 43]], [0.5, [212, 160, 23]], [1, [30, 132, 73]]];
    const c = Math.max(0, Math.min(1, confidence));
    const [a, b] = c <= 0.5 ? [stops[0], stops[1]] : [stops[1], stops[2]];
    const t = (c - a[0]) / (b[0] - a[0]);
    const rgb = a[1].map((v, i) => Math.round(v + (b[1][i] - v) * t));
    return `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
  }

  function tripleLine(t) {
    return el("span", { className: "triple" }, t.head, " ", el("span", { className: "rel" }, "\u2014 " + t.relation + " \u2192"), " ", t.tail);
  }

  function showTab(name) {
    for (const button of document.querySelectorAll("nav button")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === name));
    }
    for (const tab of ["fact", "ask", "runs"]) $("tab-" + tab).hidden = tab !== name;
    if (name === "runs") loadRuns();
  }

  // -- the graph -------------------------------------------------------------------------------

  function nodeId(name) { return "n:" + name; }
  function edgeId(tripleId) { return "e:" + tripleId; }

  function initGraph() {
    state.cy = cytoscape({
      container: $("graph"),
      minZoom: 0.15,
      maxZoom: 3,
      style: [
        { selector: "node", style: {
          "label": "data(label)", "background-color": "#5b6b86", "color": "#1d2330", "font-size": 13,
          "text-valign": "bottom", "text-margin-y": 4, "width": 18, "height": 18,
          "text-wrap": "wrap", "text-max-width": 120, "text-background-color": "#fafaf7",
          "text-background-opacity": 0.8, "text-background-padding": 1,
        } },
        { selector: "node[?center]", style: { "background-color": "#2453a6", "width": 24, "height": 24, "font-weight": 600 } },
        { selector: "node[more > 0]", style: { "border-width": 2, "border-color": "#2453a6", "border-style": "dashed" } },
        { selector: "edge", style: {
          "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 2.5, "line-color": "data(colour)",
          "target-arrow-color": "data(colour)", "label": "data(label)", "font-size": 10, "color": "#475467",
          "text-rotation": "autorotate", "text-background-color": "#fafaf7", "text-background-opacity": 0.85,
          "text-wrap": "ellipsis", "text-max-width": 120,
        } },
        { selector: "edge[?rejected]", style: { "line-style": "dashed", "opacity": 0.7 } },
        { selector: "edge[?curated]", style: { "width": 4, "underlay-color": "#2453a6", "underlay-opacity": 0.18, "underlay-padding": 3 } },
        { selector: ":selected", style: { "overlay-color": "#2453a6", "overlay-opacity": 0.18, "overlay-padding": 6 } },
      ],
    });
    state.cy.on("tap", "edge", (evt) => openFact(evt.target.data("tripleId")));
    state.cy.on("tap", "node", (evt) => expand(evt.target.data("name")));
    window.kgjudge = { cy: state.cy, edgeId, nodeId };
  }

  function nodeLabel(name) {
    const more = state.more.get(name) || 0;
    return short(name, 40) + (more > 0 ? ` (+${more})` : "");
  }

  function addNeighbourhood(nb, center) {
    const cy = state.cy;
    const added = [];
    for (const [name, count] of Object.entries(nb.more)) state.more.set(name, count);
    for (const fact of nb.facts) {
      for (const name of [fact.triple.head, fact.triple.tail]) {
        if (!state.more.has(name)) state.more.set(name, 0);
      }
    }
    cy.batch(() => {
      const names = new Set([nb.entity]);
      for (const fact of nb.facts) { names.add(fact.triple.head); names.add(fact.triple.tail); }
      for (const name of names) {
        const existing = cy.getElementById(nodeId(name));
        if (existing.nonempty()) {
          existing.data({ label: nodeLabel(name), more: state.more.get(name) || 0 });
          continue;
        }
        added.push(cy.add({ group: "nodes", data: { id: nodeId(name), name, label: nodeLabel(name),
          more: state.more.get(name) || 0, center: name === center } }));
      }
      for (const fact of nb.facts) {
        state.facts.set(fact.triple.id, fact);
        const data = edgeData(fact);
        const existing = cy.getElementById(data.id);
        if (existing.nonempty()) { existing.data(data); continue; }
        added.push(cy.add({ group: "edges", data }));
      }
    });
    if (added.length) layout();
    $("graph-hint").hidden = cy.elements().nonempty();
    renderFactList();
  }

  // Rings around the entity searched for: its facts' entities on the first ring, theirs on the
  // second, and so on; entities reached only by expanding elsewhere go to the outer rings too.
  function layout() {
    const cy = state.cy;
    const centre = cy.nodes("[?center]");
    const depth = new Map();
    if (centre.nonempty()) {
      cy.elements().bfs({ roots: centre, visit: (node, edge, previous, i, level) => { depth.set(node.id(), level); } });
    }
    const deepest = Math.max(0, ...depth.values());
    cy.layout({
      name: "concentric", animate: false, fit: true, padding: 30, minNodeSpacing: 85, startAngle: 3 / 2 * Math.PI,
      concentric: (node) => deepest + 1 - (depth.has(node.id()) ? depth.get(node.id()) : deepest + 1),
      levelWidth: () => 1,
    }).run();
    // A few nodes would otherwise be blown up to the maximum zoom.
    if (cy.zoom() > 1.2) { cy.zoom(1.2); cy.center(); }
  }

  function edgeData(fact) {
    return {
      id: edgeId(fact.triple.id), tripleId: fact.triple.id, source: nodeId(fact.triple.head),
      target: nodeId(fact.triple.tail), label: short(fact.triple.relation, 40), confidence: fact.confidence,
      colour: fact.rejected ? "#8a8f98" : colour(fact.confidence), rejected: fact.rejected, curated: fact.curated,
    };
  }

  function renderFactList() {
    const list = clear($("facts-list"));
    const facts = [...state.facts.values()].sort((a, b) => a.triple.head.localeCompare(b.triple.head));
    $("facts-count").textContent = String(facts.length);
    for (const fact of facts) {
      list.appendChild(el("li", {},
        el("button", { type: "button", className: "linkish", dataset: { triple: fact.triple.id },
          onclick: () => openFact(fact.triple.id) }, tripleLine(fact.triple)),
        " ", el("span", { className: fact.rejected ? "rejected" : "muted" },
          fact.rejected ? "rejected" : pct(fact.confidence))));
    }
  }

  async function loadEntity(name, options) {
    const opts = options || {};
    const offset = opts.offset || 0;
    const nb = await api("/api/neighbourhood?" + query({
      entity: name, hops: $("hops").value, limit: PAGE, offset, rejected: $("show-rejected").checked,
    }));
    state.offsets.set(name, offset + PAGE);
    addNeighbourhood(nb, opts.center === false ? null : name);
    if (nb.hidden_rejected) toast(`${nb.hidden_rejected} rejected fact(s) hidden (tick "show rejected")`);
    return nb;
  }

  async function expand(name) {
    try {
      const more = state.more.get(name) || 0;
      if (more > 0) {
        await loadEntity(name, { offset: state.offsets.get(name) || 0, center: false });
      } else if (!state.offsets.has(name)) {
        await loadEntity(name, { center: false });
      } else {
        toast(`all facts of ${short(name, 60)} are shown`);
      }
    } catch (e) { toast(e.message, true); }
  }

  function resetGraph() {
    state.cy.elements().remove();
    state.facts.clear(); state.more.clear(); state.offsets.clear();
    $("graph-hint").hidden = false;
    renderFactList();
  }

  // -- search ----------------------------------------------------------------------------------

  async function runSearch() {
    const text = $("search").value.trim();
    const list = clear($("search-results"));
    if (!text) { list.hidden = true; return; }
    try {
      const found = await api("/api/entities?" + query({ q: text, limit: 12 }));
      if ($("search").value.trim() !== text) return;
      for (const hit of found.hits) {
        const how = hit.method === "exact" ? `${hit.degree} facts` : `${hit.method} \u00b7 ${hit.degree} facts`;
        list.appendChild(el("li", { role: "option", dataset: { name: hit.name }, onclick: () => pick(hit.name) },
          el("span", {}, hit.name), el("span", { className: "how" }, how)));
      }
      if (!found.hits.length) list.appendChild(el("li", { className: "muted" }, "no entity found"));
      list.hidden = false;
    } catch (e) { toast(e.message, true); }
  }

  async function pick(name) {
    $("search-results").hidden = true;
    $("search").value = name;
    try {
      resetGraph();
      await loadEntity(name);
      const node = state.cy.getElementById(nodeId(name));
      state.cy.elements().unselect();
      node.select();
    } catch (e) { toast(e.message, true); }
  }

  // -- the fact panel --------------------------------------------------------------------------

  async function openFact(tripleId) {
    showTab("fact");
    const box = clear($("fact"));
    $("fact-empty").hidden = true;
    box.appendChild(el("p", { className: "spinner" }, "loading\u2026"));
    try {
      const detail = await api("/api/triples/" + encodeURIComponent(tripleId));
      state.current = detail;
      const edge = state.cy.getElementById(edgeId(tripleId));
      if (edge.nonempty()) { state.cy.elements().unselect(); edge.select(); }
      renderFact(detail);
      if (detail.document) await renderDocument(detail);
    } catch (e) {
      clear(box).appendChild(el("p", { className: "rejected" }, e.message));
    }
  }

  function statusBadges(fact) {
    const out = [el("span", { className: "status " + (fact.rejected ? "rejected" : "kept"), id: "fact-status" },
      fact.rejected ? "rejected" : "kept")];
    if (fact.curated) out.push(" ", el("span", { className: "status curated" }, "checked by a person"));
    if (fact.source === "build_rejected") out.push(" ", el("span", { className: "muted" }, "(rejected by the build's judge; not in the graph)"));
    out.push(" ", el("span", { className: "muted" }, "confidence " + pct(fact.confidence)));
    return out;
  }

  function renderFact(detail) {
    const fact = detail.fact;
    const t = fact.triple;
    const box = clear($("fact"));
    box.appendChild(el("h2", { id: "fact-title" }, tripleLine(t)));
    box.appendChild(el("div", {}, statusBadges(fact)));

    box.appendChild(el("h3", {}, "Evidence"));
    if (t.evidence) {
      box.appendChild(el("div", { id: "evidence-span", className: "muted" },
        `characters ${t.evidence.start}\u2013${t.evidence.end}`));
    }
    box.appendChild(el("div", { id: "document", className: "doc-text" },
      detail.document ? el("span", { className: "spinner" }, "loading the document\u2026")
        : (t.evidence ? el("mark", { className: "evidence" }, t.evidence.text) : el("span", { className: "muted" }, "no document or evidence recorded"))));

    box.appendChild(el("h3", {}, "Provenance"));
    const ex = t.extractor || {};
    box.appendChild(el("table", { id: "provenance" }, el("tbody", {},
      row("document", detail.document ? `${detail.document.id}${detail.document.source ? " (" + detail.document.source + (detail.document.line ? ":" + detail.document.line : "") + ")" : ""}` : (t.document_id || "\u2014")),
      row("chunk", t.chunk_id || "\u2014"),
      row("origin", t.origin),
      row("extractor model", ex.model || "\u2014"),
      row("adapter", ex.adapter || "\u2014"),
      row("prompt version", ex.prompt_version || "\u2014"),
      row("triple id", t.id))));

    box.appendChild(el("h3", {}, "Judgements"));
    if (!fact.judgements.length) box.appendChild(el("p", { className: "muted" }, "not judged"));
    else {
      box.appendChild(el("table", { id: "judgements" },
        el("thead", {}, el("tr", {}, ["judge", "score", "threshold", "decision", "why"].map((h) => el("th", {}, h)))),
        el("tbody", {}, fact.judgements.map((j) => el("tr", {},
          el("td", {}, j.judge, j.model ? el("div", { className: "muted" }, [j.model.model, j.model.adapter, j.model.prompt_version].filter(Boolean).join(" \u00b7 ")) : null),
          el("td", { className: "num" }, pct(j.score)), el("td", { className: "num" }, pct(j.threshold)),
          el("td", { className: j.label ? "kept" : "rejected" }, j.label ? "kept" : "rejected"),
          el("td", {}, (j.reasons || []).join("; ")))))));
    }
    if (detail.decisions.length) {
      box.appendChild(el("h3", {}, "Decisions"));
      box.appendChild(el("ul", { id: "decisions" }, detail.decisions.map((d) => el("li", {},
        `${d.action}${d.corrected ? " \u2192 " + d.corrected.head + " | " + d.corrected.relation + " | " + d.corrected.tail : ""}`,
        d.note ? ` (\u201c${d.note}\u201d)` : "", el("span", { className: "muted" }, " " + (d.at || ""))))));
    }
    if (state.info.judge) {
      box.appendChild(el("div", { className: "row" },
        el("button", { type: "button", id: "judge-again", onclick: () => judgeAgain(t.id) }, `Judge again (${state.info.judge})`),
        el("span", { id: "judge-result", className: "muted" })));
    }
    if (state.info.allow_edit) box.appendChild(curationForm(t));
  }

  function row(label, value) { return el("tr", {}, el("th", {}, label), el("td", {}, value)); }

  async function renderDocument(detail) {
    const t = detail.fact.triple;
    const span = t.evidence;
    const start = span ? Math.max(0, span.start - 1500) : 0;
    const view = await api("/api/documents/" + encodeURIComponent(detail.document.id) + "?" +
      query({ offset: start, length: 4000 + (span ? span.end - span.start : 0) }));
    const box = clear($("document"));
    const text = view.text;
    if (view.offset > 0) box.appendChild(el("span", { className: "muted" }, "\u2026"));
    if (span && span.end <= view.offset + text.length && span.start >= view.offset) {
      const a = span.start - view.offset;
      const b = span.end - view.offset;
      append(box, [text.slice(0, a), el("mark", { className: "evidence", id: "evidence" }, text.slice(a, b)), text.slice(b)]);
    } else {
      box.appendChild(document.createTextNode(text));
    }
    if (view.offset + text.length < view.document.length) box.appendChild(el("span", { className: "muted" }, "\u2026"));
    const mark = $("evidence");
    if (mark) mark.scrollIntoView({ block: "center" });
  }

  async function judgeAgain(tripleId) {
    const out = $("judge-result");
    out.textContent = "judging\u2026";
    try {
      const j = await api("/api/judge", { json: { triple_id: tripleId } });
      out.textContent = `${j.judge}: score ${pct(j.score)} \u2192 ${j.label ? "kept" : "rejected"} (not stored)`;
    } catch (e) { out.textContent = e.message; }
  }

  function curationForm(t) {
    const note = el("input", { type: "text", id: "curation-note", maxlength: 2000, placeholder: "note (optional)" });
    const head = el("input", { type: "text", id: "correct-head", maxlength: 1000, "aria-label": "head" });
    const rel = el("input", { type: "text", id: "correct-relation", maxlength: 1000, "aria-label": "relation" });
    const tail = el("input", { type: "text", id: "correct-tail", maxlength: 1000, "aria-label": "tail" });
    head.value = t.head; rel.value = t.relation; tail.value = t.tail;
    const send = async (request) => {
      try {
        if (note.value.trim()) request.note = note.value.trim();
        const result = await api("/api/curation/" + encodeURIComponent(t.id), { json: request });
        for (const fact of result.facts) {
          state.facts.set(fact.triple.id, fact);
          const edge = state.cy.getElementById(edgeId(fact.triple.id));
          if (edge.nonempty()) edge.data(edgeData(fact));
          else if (!fact.rejected || $("show-rejected").checked) {
            addNeighbourhood({ entity: fact.triple.head, facts: [fact], more: {} }, null);
          }
        }
        renderFactList();
        toast(`${result.decision.action}: saved`);
        const shown = result.decision.corrected ? result.decision.corrected.id : t.id;
        await openFact(shown);
      } catch (e) { toast(e.message, true); }
    };
    return el("div", { className: "curation", id: "curation" },
      el("h3", {}, "Your decision"),
      el("div", { className: "row" },
        el("button", { type: "button", id: "accept", className: "primary", onclick: () => send({ action: "accept" }) }, "Accept"),
        el("button", { type: "button", id: "reject", className: "danger", onclick: () => send({ action: "reject" }) }, "Reject")),
      note,
      el("details", {}, el("summary", {}, "Correct an element"), head, rel, tail,
        el("div", { className: "row" }, el("button", { type: "button", id: "correct", onclick: () => {
          const request = { action: "correct" };
          if (head.value.trim() !== t.head) request.head = head.value.trim();
          if (rel.value.trim() !== t.relation) request.relation = rel.value.trim();
          if (tail.value.trim() !== t.tail) request.tail = tail.value.trim();
          send(request);
        } }, "Save the correction"))));
  }

  // -- questions -------------------------------------------------------------------------------

  async function ask(event) {
    event.preventDefault();
    const question = $("question").value.trim();
    if (!question) return;
    const out = clear($("answer"));
    out.appendChild(el("p", { className: "spinner" }, "thinking\u2026 (the model may take a while)"));
    $("ask").disabled = true;
    try {
      const answer = await api("/api/query", { json: { question, mode: $("ask-mode").value } });
      renderAnswer(answer);
    } catch (e) {
      clear(out).appendChild(el("p", { className: "rejected" }, e.message));
    } finally { $("ask").disabled = false; }
  }

  function renderAnswer(answer) {
    const out = clear($("answer"));
    out.appendChild(el("h3", {}, answer.found ? "Answer" : "No answer"));
    out.appendChild(el("div", { className: "answer", id: "answer-text" }, answer.answer));
    if (answer.citations.length) {
      out.appendChild(el("h3", {}, "Cited facts"));
      out.appendChild(el("ul", { className: "citations", id: "citations" }, answer.citations.map((c) => el("li", {},
        el("button", { type: "button", className: "linkish", dataset: { triple: c.triple_id }, onclick: () => openCited(c) },
          `[${c.key}] `, tripleLine(c)),
        el("div", { className: "muted" }, `${c.source} \u00b7 confidence ${pct(c.confidence)}` +
          (c.document_id ? ` \u00b7 ${c.document_id}` : "") + (c.evidence ? `: \u201c${short(c.evidence.text, 140)}\u201d` : ""))))));
    }
    if (answer.invalid_citations.length) {
      out.appendChild(el("p", { className: "muted" }, "labels the model gave that are not in the context: " + answer.invalid_citations.join(", ")));
    }
    const ctx = answer.context;
    out.appendChild(el("p", { className: "muted" }, `${ctx.facts.length} facts in the context (${ctx.tokens} tokens), retrieved in ${(ctx.seconds * 1000).toFixed(0)} ms`));
  }

  async function openCited(citation) {
    try {
      if (!state.cy.getElementById(edgeId(citation.triple_id)).nonempty()) {
        await loadEntity(citation.head, { center: true });
      }
      await openFact(citation.triple_id);
    } catch (e) { toast(e.message, true); }
  }

  async function openLinkedFact(tripleId) {
    try {
      const detail = await api("/api/triples/" + encodeURIComponent(tripleId));
      $("search").value = detail.fact.triple.head;
      await loadEntity(detail.fact.triple.head);
      await openFact(tripleId);
    } catch (e) { toast(e.message, true); }
  }

  // -- runs ------------------------------------------------------------------------------------

  let runsLoaded = false;

  async function loadRuns() {
    if (runsLoaded) return;
    runsLoaded = true;
    const box = clear($("runs"));
    if (!state.info.runs.length) {
      box.appendChild(el("p", { className: "muted" }, "No run folder: the server shows a store (start it with --out, or add --run DIR)."));
      return;
    }
    for (const run of state.info.runs) {
      const section = el("section", { className: "run", id: "run-" + run.index }, el("p", { className: "spinner" }, "loading\u2026"));
      box.appendChild(section);
      try { renderRun(section, await api(`/api/runs/${run.index}`)); } catch (e) {
        clear(section).appendChild(el("p", { className: "rejected" }, e.message));
      }
    }
  }

  function renderRun(section, run) {
    clear(section);
    section.appendChild(el("h2", {}, `${run.kind === "build" ? "Build" : "Filter run"}: ${run.folder}`));
    section.appendChild(el("p", { className: "muted" }, run.finished ? "finished" : "not finished"));
    const counts = Object.entries(run.counts).filter(([k]) => k !== "out");
    if (counts.length) {
      section.appendChild(el("h3", {}, "Counts"));
      section.appendChild(el("table", {}, el("tbody", {}, counts.map(([k, v]) =>
        row(k.replace(/_/g, " "), Array.isArray(v) ? v.map((x) => Array.isArray(x) ? x.join(": ") : String(x)).join(", ")
          : (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : String(v)))))));
    }
    const usage = Object.entries(run.usage);
    if (usage.length) {
      section.appendChild(el("h3", {}, "Usage"));
      section.appendChild(el("table", {},
        el("thead", {}, el("tr", {}, ["", "requests", "cache hits", "model calls", "tokens in", "tokens out", "model s"].map((h) => el("th", {}, h)))),
        el("tbody", {}, usage.map(([stage, u]) => el("tr", {}, el("th", {}, stage), el("td", {}, u.requests), el("td", {}, u.cache_hits),
          el("td", {}, u.model_calls), el("td", {}, u.prompt_tokens), el("td", {}, u.completion_tokens), el("td", {}, u.model_seconds.toFixed(1)))))));
    }
    for (const [judge, bins] of Object.entries(run.histograms)) {
      const top = Math.max(1, ...bins.map((b) => b.count));
      section.appendChild(el("h3", {}, `Scores: ${judge}`));
      section.appendChild(el("div", { className: "hist", "aria-label": `score histogram of ${judge}` }, bins.map((b) =>
        el("div", { title: `${b.start.toFixed(2)}\u2013${b.end.toFixed(2)}: ${b.count}`, style: `height:${(100 * b.count / top).toFixed(1)}%` }))));
      section.appendChild(el("div", { className: "hist-axis" }, el("span", {}, "0"), el("span", {}, "0.5"), el("span", {}, "1")));
    }
    const rejects = el("div", { id: `rejects-${run.index}` });
    section.appendChild(el("h3", {}, `Rejected inputs (${run.rejected_inputs})`));
    section.appendChild(rejects);
    if (run.rejected_inputs) pageRejects(run.index, rejects, 0);
    const rejected = el("div", { id: `rejected-${run.index}` });
    section.appendChild(el("h3", {}, run.kind === "build" ? `Triples the judge rejected (${run.rejected})` : `Examples the judges rejected (${run.rejected})`));
    section.appendChild(rejected);
    if (run.rejected) pageRejected(run.index, rejected, 0);
  }

  async function pageRejects(index, box, offset) {
    try {
      const page = await api(`/api/runs/${index}/rejects?` + query({ offset, limit: 25 }));
      for (const item of page.items) {
        const r = item.reject;
        const where = r.file + (r.line ? ":" + r.line : "") + (r.document_id ? ` (${r.document_id})` : "");
        box.appendChild(el("details", { className: "reason", id: `reject-${index}-${item.index}` },
          el("summary", {}, where), el("p", {}, r.reason)));
      }
      moreButton(box, page, offset, () => pageRejects(index, box, offset + 25));
    } catch (e) { toast(e.message, true); }
  }

  async function pageRejected(index, box, offset) {
    try {
      const page = await api(`/api/runs/${index}/rejected?` + query({ offset, limit: 25 }));
      for (const fact of page.facts) {
        const why = fact.judgements.map((j) => `${j.judge} ${pct(j.score)} < ${pct(j.threshold)}` + (j.reasons.length ? ` (${j.reasons.join("; ")})` : "")).join("; ");
        box.appendChild(el("details", { className: "reason" },
          el("summary", {}, tripleLine(fact.triple)),
          el("p", {}, why || "rejected"),
          el("p", {}, el("button", { type: "button", className: "linkish", onclick: () => openFact(fact.triple.id) }, "open this fact"))));
      }
      for (const d of page.decisions) {
        const why = d.reasons.length ? d.reasons.join("; ") : d.judgements.map((j) => `${j.judge} ${pct(j.score)}`).join("; ");
        box.appendChild(el("details", { className: "reason" },
          el("summary", {}, `${d.example_id} \u00b7 score ${d.score === null ? "\u2014" : pct(d.score)} \u00b7 round ${d.round}`),
          el("p", {}, why || "rejected")));
      }
      moreButton(box, page, offset, () => pageRejected(index, box, offset + 25));
    } catch (e) { toast(e.message, true); }
  }

  function moreButton(box, page, offset, next) {
    if (offset + 25 >= page.total) return;
    const button = el("button", { type: "button", onclick: () => { button.remove(); next(); } }, `more (${page.total - offset - 25} left)`);
    box.appendChild(button);
  }

  // -- start -----------------------------------------------------------------------------------

  async function start() {
    try {
      state.info = await api("/api/info");
    } catch (e) { toast(e.message, true); return; }
    const mode = $("mode");
    mode.textContent = state.info.allow_edit ? "editing allowed" : "read-only";
    if (state.info.allow_edit) mode.classList.add("edit");
    document.title = `kgjudge \u2014 ${state.info.name}`;
    initGraph();
    api("/api/stats").then((s) => {
      $("stats").textContent = `${s.entities} entities \u00b7 ${s.triples} triples \u00b7 ${s.documents} documents`;
    }).catch((e) => toast(e.message, true));
    for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => showTab(button.dataset.tab));
    $("search").addEventListener("input", () => { clearTimeout(state.searchTimer); state.searchTimer = setTimeout(runSearch, 200); });
    $("search-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const first = $("search-results").querySelector("li[data-name]");
      if (first) pick(first.dataset.name); else await runSearch();
    });
    document.addEventListener("click", (e) => { if (!$("search-form").contains(e.target)) $("search-results").hidden = true; });
    $("ask-form").addEventListener("submit", ask);
    $("clear-graph").addEventListener("click", resetGraph);
    $("show-rejected").addEventListener("change", async () => {
      const centre = state.cy.nodes("[?center]");
      if (centre.nonempty()) { const name = centre.first().data("name"); resetGraph(); await loadEntity(name); }
    });
    // Links into the page: ?entity=NAME opens an entity, ?triple=ID a fact with its neighbourhood;
    // ?hops=N and ?rejected=1 set the controls first.
    const params = new URLSearchParams(location.search);
    if (["1", "2", "3"].includes(params.get("hops"))) $("hops").value = params.get("hops");
    if (params.get("rejected") === "1") $("show-rejected").checked = true;
    if (params.get("triple")) openLinkedFact(params.get("triple"));
    else if (params.get("entity")) pick(params.get("entity"));
  }

  document.addEventListener("DOMContentLoaded", start);
})();
