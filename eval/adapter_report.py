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

from kgjudge.judges import load_train_config, read_metadata


def fmt(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


DEV_SPLIT = ("Data: the dev split (every REBEL-Sub val and SciERC train document whose hash "
             "sha256(\"0:\" + id) is below 0.2; no packaged adapter trains on it): thresholds and dev losses "
             "come from its tune part (0.15 to 0.2), every number below from its eval part (below 0.15); "
             "see docs/build.md.")


def judge_section(r: dict) -> list[str]:
    kinds = list(r["kinds"])
    lines = [
        DEV_SPLIT, "",
        f"{r['examples']} eval-part examples ({', '.join(f'{k} {v}' for k, v in r['kinds'].items())}); thresholds "
        f"calibrated (best F1) on {r['tune_examples']} tune-part examples; every example asked through "
        "`GraphJudger.judge` with its document and chunks, as `kgjudge build` asks.",
        "",
        "| judge | context | accuracy at 0.5 | tune threshold | accuracy | precision | recall | F1 | AUROC | ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, j in r["judges"].items():
        m, d = j["at_0.5"], j["at_tune_threshold"]
        lines.append(
            f"| {name} (`{j['adapter']}`) | {j['context']} | {fmt(m['accuracy'])} | {fmt(j['tune_threshold'])} | "
            f"{fmt(d['accuracy'])} | {fmt(d['precision'])} | {fmt(d['recall'])} | {fmt(d['f1'])} | {fmt(m['auroc'])} | {fmt(m['ece'])} |"
        )
    lines += ["", "Accuracy per kind at the tune threshold:", "",
              "| judge | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for name, j in r["judges"].items():
        lines.append(f"| {name} | " + " | ".join(fmt(j["accuracy_per_kind_at_tune_threshold"].get(k)) for k in kinds) + " |")
    lines.append("")
    for name, j in r["judges"].items():
        for build, b in j.get("builds", {}).items():
            after = b.get("after_at_tune_threshold") or b.get("after_at_given_threshold")
            lines.append(
                f"- {name} on the triples extracted by build `{build}` ({b['documents']} documents): exact-match "
                f"precision {fmt(b['before']['exact']['precision'])} -> {fmt(after['exact']['precision'])}, recall "
                f"{fmt(b['before']['exact']['recall'])} -> {fmt(after['exact']['recall'])} (threshold {fmt(after['threshold'])})."
            )
    return [*lines, ""]


def extractor_section(r: dict) -> list[str]:
    lines = [
        DEV_SPLIT, "",
        f"{r['documents']} eval-part documents, each through `kgjudge build` with `{r['config']}` (chunking, "
        f"denoising {r['denoise']}, judge `{r['judge']}` at threshold {r['threshold']}), only the extractor "
        "swapped; exact-match triples against each document's whole gold graph.",
        "",
        "| variant | adapter | P before judge | R | F1 | P after judge | R | F1 | G-BLEU F1 after | unusable replies | s/document | output tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v in r["variants"].items():
        b, a = v["before_judge"]["exact"], (v["after_judge"] or v["before_judge"])
        bleu = (v["after_judge"] or v["before_judge"]).get("g_bleu", {}).get("f1")
        lines.append(
            f"| {name} | `{v['adapter']}` | {fmt(b['precision'])} | {fmt(b['recall'])} | {fmt(b['f1'])} | "
            f"{fmt(a['exact']['precision'])} | {fmt(a['exact']['recall'])} | {fmt(a['exact']['f1'])} | {fmt(bleu)} | "
            f"{v['unusable_replies']} | {fmt(v.get('seconds_per_document'))} | {fmt(v.get('extract_output_tokens_per_s'))} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter", type=Path)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--command", required=True, help="the command that produced the result")
    args = parser.parse_args()

    meta = read_metadata(args.adapter)
    chunking = load_train_config(args.adapter / "train.yaml").data.chunking
    result = json.loads(args.result.read_text())
    t = meta.training
    lines = [
        f"# {args.adapter.name}",
        "",
        f"LoRA {meta.task} adapter for `{meta.base_model}` (prompt `{meta.prompt}`, "
        + (f"trained on the pipeline's chunks (max_tokens {chunking.max_tokens}, overlap_tokens {chunking.overlap_tokens})"
           if chunking is not None
           else f"documents cut at {meta.max_document_chars} characters")
        + f"), r={meta.lora['r']}, alpha={meta.lora['alpha']}, modules {', '.join(meta.lora['target_modules'])}"
        + (f", starting from `{meta.lora['init_adapter']}`" if meta.lora.get("init_adapter") else "") + ".",
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
    if (args.adapter / "dev_loss.png").is_file():
        lines += ["Training and dev loss (tune part of the dev split):", "", "![dev loss](dev_loss.png)", ""]
    shutil.copyfile(args.result, args.adapter / args.result.name)
    if args.png:
        shutil.copyfile(args.png, args.adapter / args.png.name)
        lines += [f"![precision-recall]({args.png.name})", ""]
    (args.adapter / "EVAL.md").write_text("\n".join(lines))
    print(f"written {args.adapter / 'EVAL.md'}")


if __name__ == "__main__":
    main()
