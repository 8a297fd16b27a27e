"""Grammar-constrained decoding libraries on kgjudge's JSON schemas: per-token cost, correctness.

For each library that is installed (xgrammar, llguidance, outlines-core, lm-format-enforcer)
and each schema kgjudge sends (the extraction reply: an array of [head, relation, tail] string
arrays with ``maxItems``; the denoise entity list; and a nested object schema with enums,
numbers and optional keys as a stand-in for richer replies):

1. Compile time: tokenizer set-up once, then each schema.
2. Per-token cost: reference replies (gold triples and entities of REBEL-Sub val documents,
   written as kgjudge writes them) are replayed token by token: compute the allowed-token mask,
   apply it to a logits row, check the reference token is allowed, advance. Reported in
   microseconds per token next to the model's own decode step (SmolLM2-135M, batch 1, one
   thread), so the overhead reads as a share of generation time.
   Times are CPU-seconds of this process (the machine may be shared).
3. Correctness: every reference reply must be accepted to its end and then allow the end of
   sequence (whether it allows only that, so generation stops when the value closes, is reported
   too); invalid replies (a 2- or 4-element triple, a number for a string, an object root,
   one item over ``maxItems``, an unknown key, a missing required key) must be refused.

Installed size is measured separately (``pip install --target``); see the README.

    python eval/bench_constrained.py [--quick] [--out eval/results/bench_constrained.json]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgjudge.stages import entity_schema, extract_schema

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rebel_sub"

EXTRACT = extract_schema(50)
ENTITIES = entity_schema(30)
NESTED = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number"},
        "label": {"enum": ["supported", "unsupported", "unknown"]},
        "facts": {"type": "array", "items": {"type": "integer"}, "maxItems": 8},
    },
    "required": ["answer", "label"],
    "additionalProperties": False,
}
SCHEMAS = {"extract": EXTRACT, "entities": ENTITIES, "nested": NESTED}
INVALID = {
    "extract": [
        '[["a", "b"]]',
        '[["a", "b", "c", "d"]]',
        '[["a", "b", 3]]',
        '{"triples": []}',
        json.dumps([["a", "b", f"c{i}"] for i in range(51)]),
    ],
    "entities": ['{"entities": ["a"], "x": 1}', '{"names": []}', '["a"]'],
    "nested": ['{"answer": "x"}', '{"answer": "x", "label": "maybe"}', '{"answer": 1, "label": "unknown"}'],
}


def reference_replies(data: Path, documents: int) -> dict[str, list[str]]:
    """Valid replies per schema, written the way kgjudge writes them (``json.dumps``)."""
    graphs = (data / "val.source").read_text(encoding="utf-8").splitlines()[:documents]
    out: dict[str, list[str]] = {"extract": [], "entities": [], "nested": []}
    for n, line in enumerate(graphs):
        triples = [[str(x) for x in t] for t in ast.literal_eval(line) if len(t) == 3][:50]
        out["extract"].append(json.dumps(triples, ensure_ascii=False))
        names = list(dict.fromkeys(x for t in triples for x in (t[0], t[2])))[:30]
        out["entities"].append(json.dumps({"entities": names}, ensure_ascii=False))
        # Keys in the schema's order: grammars keep the declared property order.
        reply: dict[str, Any] = {"answer": triples[0][2] if triples else ""}
        if n % 2:
            reply["confidence"] = round(0.5 + n / 100, 3)
        reply["label"] = "supported"
        if n % 2:
            reply["facts"] = list(range(n % 8))
        out["nested"].append(json.dumps(reply, ensure_ascii=False))
    return out


class Unpack:
    """Turns a packed 32-bit token bitmask into a boolean row (what every library's torch kernel
    does), so all libraries pay the same for applying their mask."""

    def __init__(self, torch: Any, vocab: int) -> None:
        self.torch, self.vocab = torch, vocab
        self.shifts = torch.arange(32, dtype=torch.int32)

    def __call__(self, packed: Any) -> Any:
        bits = (packed.unsqueeze(-1) >> self.shifts) & 1
        return bits.reshape(-1)[: self.vocab].bool()


def make_libraries(tokenizer: Any, vocab: int, torch: Any) -> dict[str, Callable[[], Any]]:
    """name -> factory of an object with compile(schema) and a matcher protocol."""
    unpack = Unpack(torch, vocab)
    eos = tokenizer.eos_token_id
    words = (vocab + 31) // 32

    class XGrammar:
        def __init__(self) -> None:
            import xgrammar as xgr

            self.xgr = xgr
            self.compiler = xgr.GrammarCompiler(xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab))
            self.bitmask = torch.zeros((1, words), dtype=torch.int32)

        def compile(self, schema: dict) -> Any:
            return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False, separators=(", ", ": "))

        def start(self, compiled: Any) -> Any:
            return self.xgr.GrammarMatcher(compiled)

        def allowed(self, m: Any) -> Any:
            m.fill_next_token_bitmask(self.bitmask, 0)
            return unpack(self.bitmask[0])

        def advance(self, m: Any, token: int) -> bool:
            return bool(m.accept_token(token))

    class LLGuidance:
        def __init__(self) -> None:
            import llguidance
            import llguidance.hf
            import llguidance.torch

            self.llg = llguidance
            self.fill = llguidance.torch.fill_next_token_bitmask
            self.tok = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab)
            self.bitmask = torch.zeros((1, words), dtype=torch.int32)

        def compile(self, schema: dict) -> Any:
            grammar = self.llg.LLMatcher.grammar_from_json_schema(
                schema, defaults={"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
            )
            error, messages = self.llg.LLMatcher.validate_grammar_with_warnings(grammar, self.tok)
            if error:
                raise ValueError("; ".join(messages))
            return grammar

        def start(self, grammar: str) -> Any:
            return self.llg.LLMatcher(self.tok, grammar)

        def allowed(self, m: Any) -> Any:
            self.fill(m, self.bitmask, 0)
            return unpack(self.bitmask[0])

        def advance(self, m: Any, token: int) -> bool:
            return bool(m.consume_token(token)) and not m.is_error()

    class OutlinesCore:
        def __init__(self) -> None:
            import outlines_core
            from outlines_core.json_schema import build_regex_from_schema

            self.oc, self.regex = outlines_core, build_regex_from_schema
            decoder = {v: k for k, v in _byte_decoder().items()}
            tokens: dict[bytes, list[int]] = {}
            for text, token_id in tokenizer.get_vocab().items():
                if token_id == eos or token_id >= vocab:
                    continue
                try:
                    raw = bytes(decoder[c] for c in text)
                except KeyError:  # special tokens are not byte-level encoded
                    raw = text.encode()
                tokens.setdefault(raw, []).append(token_id)
            self.vocabulary = outlines_core.Vocabulary(eos, tokens)
            self.bitmask = torch.zeros((1, words), dtype=torch.int32)

        def compile(self, schema: dict) -> Any:
            return self.oc.Index(self.regex(json.dumps(schema), whitespace_pattern=r"[ ]?"), self.vocabulary)

        def start(self, index: Any) -> Any:
            return self.oc.Guide(index)

        def allowed(self, g: Any) -> Any:
            g.write_mask_into(self.bitmask.data_ptr(), self.bitmask.numel(), 4)
            return unpack(self.bitmask[0])

        def advance(self, g: Any, token: int) -> bool:
            try:
                g.advance(token)
            except ValueError:
                return False
            return True

    class FormatEnforcer:
        note = ""

        def __init__(self) -> None:
            import lmformatenforcer

            self.lmfe = lmformatenforcer
            try:
                from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data
            except ImportError as exc:
                # Its transformers integration imports modules transformers 5 removed; the
                # tokenizer data is built here the same way (token text after a "0" token).
                type(self).note = f"transformers integration does not import: {exc}"
                self.data = self._tokenizer_data()
            else:
                self.data = build_token_enforcer_tokenizer_data(tokenizer, vocab_size=vocab)

        def _tokenizer_data(self) -> Any:
            zero = tokenizer.encode("0")[-1]
            special = set(tokenizer.all_special_ids)
            regular = []
            for token in range(len(tokenizer)):
                if token in special:
                    continue
                after_zero = tokenizer.decode([zero, token])[1:]
                regular.append((token, after_zero, len(after_zero) > len(tokenizer.decode([token]))))
            return self.lmfe.TokenEnforcerTokenizerData(
                regular, lambda ids: tokenizer.decode(ids).rstrip("\ufffd"), eos, False, vocab
            )

        def compile(self, schema: dict) -> Any:
            return schema

        def start(self, schema: dict) -> Any:
            return [self.lmfe.TokenEnforcer(self.data, self.lmfe.JsonSchemaParser(schema)), [eos]]

        def allowed(self, state: Any) -> Any:
            row = torch.zeros(vocab, dtype=torch.bool)
            allowed = state[0].get_allowed_tokens(state[1])
            row[list(getattr(allowed, "allowed_tokens", allowed))] = True
            return row

        def advance(self, state: Any, token: int) -> bool:
            state[1] = [*state[1], token]
            return True

    return {"xgrammar": XGrammar, "llguidance": LLGuidance, "outlines-core": OutlinesCore, "lm-format-enforcer": FormatEnforcer}


def _byte_decoder() -> dict[int, str]:
    """byte -> printable character of byte-level BPE vocabularies (GPT-2 convention)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def replay(lib: Any, compiled: Any, ids: list[int], eos: int, logits: Any) -> tuple[bool, bool, int, float]:
    """(accepted to the end with EOS allowed after, only EOS allowed after, tokens stepped,
    CPU-seconds)."""
    state = lib.start(compiled)
    started = time.process_time()
    steps = 0
    for token in ids:
        mask = lib.allowed(state)
        logits.masked_fill(~mask, float("-inf"))
        steps += 1
        if not bool(mask[token]) or not lib.advance(state, token):
            return False, False, steps, time.process_time() - started
    mask = lib.allowed(state)
    steps += 1
    return bool(mask[eos]), bool(mask[eos]) and int(mask.sum()) == 1, steps, time.process_time() - started


def model_step_seconds(model: Any, torch: Any, steps: int = 48) -> float:
    """CPU-seconds of one decode step of the model at batch 1 (a 200-token prompt cached)."""
    import inspect

    import transformers

    kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        cache = transformers.DynamicCache()
        out = model(input_ids=torch.randint(100, 1000, (1, 200)), use_cache=True, **{kw: cache})
        token = out.logits[:, -1:].argmax(-1)
        started = time.process_time()
        for _ in range(steps):
            token = model(input_ids=token, use_cache=True, **{kw: cache}).logits[:, -1:].argmax(-1)
        return (time.process_time() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="packaged name, folder or .gguf")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with val.source")
    parser.add_argument("--documents", type=int, default=40, help="reference replies per schema")
    parser.add_argument("--quick", action="store_true", help="8 documents")
    parser.add_argument("--libraries", nargs="*", default=None, help="subset to run")
    parser.add_argument("--out", type=Path, default=Path("eval/results/bench_constrained.json"))
    args = parser.parse_args()

    import torch
    import transformers

    from kgjudge.llm import hf_model_dir, resolve_model

    torch.set_num_threads(1)
    load_start = os.getloadavg()
    path = hf_model_dir(resolve_model(args.model))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    step_s = model_step_seconds(model, torch)
    print(f"model decode step (batch 1, 1 thread): {step_s * 1e6:.0f} us of CPU")

    refs = reference_replies(args.data, 8 if args.quick else args.documents)
    encoded = {k: [tokenizer(r, add_special_tokens=False)["input_ids"] for r in v] for k, v in refs.items()}
    invalid = {k: [tokenizer(r, add_special_tokens=False)["input_ids"] for r in v] for k, v in INVALID.items()}
    eos = tokenizer.eos_token_id
    logits = torch.zeros(vocab)
    results: dict[str, Any] = {}
    for name, factory in make_libraries(tokenizer, vocab, torch).items():
        if args.libraries and name not in args.libraries:
            continue
        entry: dict[str, Any] = {}
        try:
            started = time.process_time()
            lib = factory()
            entry["setup_s"] = round(time.process_time() - started, 3)
        except ImportError as exc:
            print(f"{name}: not installed ({exc})")
            results[name] = {"installed": False}
            continue
        per_schema = {}
        for key, schema in SCHEMAS.items():
            try:
                started = time.process_time()
                compiled = lib.compile(schema)
                compile_s = time.process_time() - started
            except Exception as exc:  # noqa: BLE001 - a library that cannot take the schema is a result
                per_schema[key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                continue
            accepted, closes, steps, seconds = 0, 0, 0, 0.0
            for ids in encoded[key]:
                ok, only_eos, n, s = replay(lib, compiled, ids, eos, logits)
                accepted += ok
                closes += only_eos
                steps += n
                seconds += s
            refused = sum(not replay(lib, compiled, ids, eos, logits)[0] for ids in invalid[key])
            per_schema[key] = {
                "compile_s": round(compile_s, 4),
                "valid_accepted": f"{accepted}/{len(encoded[key])}",
                "invalid_refused": f"{refused}/{len(invalid[key])}",
                "only_eos_after_the_value": f"{closes}/{len(encoded[key])}",
                "us_per_token": round(seconds / steps * 1e6, 1),
                "overhead_vs_decode_step": round(seconds / steps / step_s, 3),
            }
        entry["schemas"] = per_schema
        if getattr(lib, "note", ""):
            entry["note"] = lib.note
        costs = [s["us_per_token"] for s in per_schema.values() if "us_per_token" in s]
        entry["median_us_per_token"] = statistics.median(costs) if costs else None
        entry["all_correct"] = all(
            "error" not in s and s["valid_accepted"].split("/")[0] == s["valid_accepted"].split("/")[1]
            and s["invalid_refused"].split("/")[0] == s["invalid_refused"].split("/")[1]
            for s in per_schema.values()
        )
        results[name] = entry
        print(f"{name}: setup {entry['setup_s']} s, median {entry['median_us_per_token']} us/token, "
              f"all correct: {entry['all_correct']}")
        for key, s in per_schema.items():
            print(f"  {key}: {s}")

    correct = [r for r in results.values() if r.get("all_correct")]
    best = min((r["median_us_per_token"] for r in correct), default=None)
    report = {
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "load_start": load_start,
                    "load_end": os.getloadavg()},
        "settings": {"documents": 8 if args.quick else args.documents, "threads": 1, "dtype": "float32"},
        "model_decode_step_us": round(step_s * 1e6, 1),
        "libraries": results,
        "goals": {
            "a library is correct on every schema": {"value": len(correct), "goal": ">= 1", "met": bool(correct)},
            "mask cost of the best correct library vs a decode step": {
                "value": None if best is None else round(best / (step_s * 1e6), 3),
                "goal": "<= 0.1",
                "met": best is not None and best / (step_s * 1e6) <= 0.1,
            },
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
