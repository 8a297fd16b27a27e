"""Write an adapter's EVAL.md from its metadata and the JSON results of the eval scripts, and
copy those results (and a PR-curve PNG) beside it.

    python eval/adapter_report.py judges/adapters/smollm2-judge.v1 \
        --result eval/results/judge_quality.json --png eval/results/judge_pr_curve.png \
        --command "python eval/judge_quality.py --test-examples 400 --dev-examples 200"
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from kgjudge.judges import read_metadata


def fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def judge_section(r: dict) -> list[str]:
    lines = [
        f"Held-out test documents of REBEL-Sub val: {r['test_examples']} examples "
        f"({', '.join(f'{k} {v}' for k, v in r['test_kinds'].items())}); thresholds calibrated (best F1) "
        f"on {r['dev_examples']} dev examples.",
        "",
        "| model | accuracy at 0.5 | dev threshold | accuracy | precision | recall | F1 | AUROC | ECE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("untuned", "tuned"):
        m, d = r[name]["at_0.5"], r[name]["at_dev_threshold"]
        lines.append(
            f"| {name} | {fmt(m['accuracy'])} | {fmt(r[name]['dev_calibrated_threshold'])} | {fmt(d['accuracy'])} | "
            f"{fmt(d['precision'])} | {fmt(d['recall'])} | {fmt(d['f1'])} | {fmt(m['auroc'])} | {fmt(m['ece'])} |"
        )
    lines += ["", "Accuracy per kind at the dev threshold (tuned): "
              + ", ".join(f"{k} {fmt(v)}" for k, v in r["tuned"]["accuracy_per_kind_at_dev_threshold"].items()), ""]
    f = r.get("filtering")
    if f:
        lines += [
            f"Filtering the test documents' gold graphs with injected wrong triples ({f['gold']} gold, "
            f"{f['injected_wrong']} injected) at the dev threshold {fmt(f['threshold'])}: precision "
            f"{fmt(f['precision_before'])} -> {fmt(f['precision_after'])} (+{f['precision_gain_points']:.1f} points), "
            f"recall loss {f['recall_loss_points']:.1f} points.",
            "",
        ]
    c = r.get("dtype_check")
    if c:
        lines += [
            f"Scored with {r['dtype']} weights; on {c['examples']} of the test examples float32 weights give mean "
            f"|score difference| {c['mean_abs_score_difference']:.4f}, decision agreement {fmt(c['decision_agreement'])}, "
            f"accuracy {fmt(c['float32_accuracy'])} (float32) vs {fmt(c['bfloat16_accuracy'])} ({r['dtype']}).",
            "",
        ]
    return lines


def extractor_section(r: dict) -> list[str]:
    lines = [
        f"Held-out test documents ({r['documents']}, REBEL-Sub val and SciERC train test split), "
        f"greedy decoding, up to {r['max_tokens']} new tokens; exact-match triples.",
        "",
        "| model | replies parsed | precision | recall | F1 |",
        "|---|---|---|---|---|",
    ]
    for name in ("untuned", "tuned"):
        m = r[name]
        lines.append(f"| {name} | {m['parsed']}/{m['documents']} | {fmt(m['precision'])} | {fmt(m['recall'])} | {fmt(m['f1'])} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--command", required=True, help="the command that produced the result")
    args = parser.parse_args()

    meta = read_metadata(args.adapter)
    result = json.loads(args.result.read_text())
    t = meta.training
    lines = [
        f"# {args.adapter.name}",
        "",
        f"LoRA {meta.task} adapter for `{meta.base_model}` (prompt `{meta.prompt}`, documents cut at "
        f"{meta.max_document_chars} characters), r={meta.lora['r']}, alpha={meta.lora['alpha']}, "
        f"modules {', '.join(meta.lora['target_modules'])}.",
        "",
        f"Training: {t['steps']} steps in {t['seconds']:.0f} s ({t['seconds_per_step']} s/step) on {t['device']} "
        f"with {t['torch_threads']} thread(s), bf16 autocast {t['bf16']}, learning rate {t['learning_rate']}, "
        f"seed {t['seed']}; {meta.data['train_examples']} train and {meta.data['dev_examples']} dev examples, "
        f"data hash `{meta.data_hash}`. Training config: `train.yaml`; everything else: `kgjudge_adapter.json`.",
        "",
        "Dev metrics after training: "
        + ", ".join(f"{k} {fmt(v)}" for k, v in meta.metrics.items() if not isinstance(v, dict)),
        "",
        "## Held-out evaluation",
        "",
        f"`{args.command}` (results: `{args.result.name}`)",
        "",
    ]
    lines += judge_section(result) if meta.task == "judge" else extractor_section(result)
    shutil.copyfile(args.result, args.adapter / args.result.name)
    if args.png:
        shutil.copyfile(args.png, args.adapter / args.png.name)
        lines += [f"![precision-recall]({args.png.name})", ""]
    (args.adapter / "EVAL.md").write_text("\n".join(lines))
    print(f"written {args.adapter / 'EVAL.md'}")


if __name__ == "__main__":
    main()
