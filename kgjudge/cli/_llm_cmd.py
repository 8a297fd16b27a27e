"""``kgjudge llm``: one prompt or choice-scoring request through a configured backend, and
``kgjudge model path``: the HF-format folder of a model (for ``vllm serve``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from kgjudge._errors import ConfigError
from kgjudge._records import ChatMessage
from kgjudge.cli._app import app, echo, get_config, handles_errors
from kgjudge.cli._output import VerboseOption

model_app = typer.Typer(help="Locate and prepare models.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@app.command("llm")
@handles_errors
def llm_command(
    prompt: str = typer.Argument(..., help="the user message (or the raw prompt with --raw)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="config file; embedded default if omitted"),
    backend: str = typer.Option("default", "--backend", "-b", help="backend name in the config"),
    system: Optional[str] = typer.Option(None, help="a system message"),
    raw: bool = typer.Option(False, "--raw", help="send PROMPT as a raw completion prompt, not a chat"),
    choices: Optional[list[str]] = typer.Option(
        None, "--choice", help="a choice to score instead of generating (repeat; kept verbatim, spaces too)"
    ),
    json_schema: Optional[Path] = typer.Option(None, "--json-schema", help="file with a JSON schema for the reply"),
    max_tokens: int = typer.Option(128, min=1),
    temperature: float = typer.Option(0.0, min=0.0),
    seed: Optional[int] = typer.Option(None),
    adapter: Optional[str] = typer.Option(None, help="LoRA adapter name from the backend's config"),
    no_cache: bool = typer.Option(False, "--no-cache", help="bypass the response cache"),
    as_json: bool = typer.Option(False, "--json", help="print the whole result as JSON"),
    verbose: bool = VerboseOption,
) -> None:
    """Send one request through a backend: generate text, or score each --choice."""
    from kgjudge._config import backend_of
    from kgjudge.llm import LLM, LLMRequest, build_backend, build_cache

    cfg = get_config(config)
    backend_of(cfg.backends, backend, file=str(config) if config else None, key="backends")
    schema = None
    if json_schema is not None:
        try:
            schema = json.loads(json_schema.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read a JSON schema: {exc}", file=str(json_schema)) from exc
    fields: dict = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed, "adapter": adapter,
                    "json_schema": schema}
    if choices:
        fields["choices"] = choices
    if raw:
        fields["prompt"] = prompt
    else:
        messages = [ChatMessage(role="system", content=system)] if system else []
        fields["messages"] = [*messages, ChatMessage(role="user", content=prompt)]
    request = LLMRequest(**fields)

    started = time.perf_counter()
    echo(f"loading backend '{backend}' ({cfg.backends[backend].type})...", err=True)
    client = LLM(build_backend(cfg.backends[backend], file=cfg.source_file, key=f"backends.{backend}"),
                 None if no_cache else build_cache(cfg.cache))
    loaded = time.perf_counter()
    if request.choices:
        result = client.score_choices_sync([request])[0]
        if as_json:
            echo(json.dumps({**result.model_dump(mode="json"), "probs": result.probs}, ensure_ascii=False))
        else:
            for choice, lp, p in zip(result.choices, result.logprobs, result.probs):
                echo(f"{choice}\tlogprob={lp:.4f}\tp={p:.4f}")
            echo(f"best: {result.best}")
    else:
        result = client.generate_sync([request])[0]
        if as_json:
            echo(result.model_dump_json())
        else:
            echo(json.dumps(result.parsed, ensure_ascii=False, indent=2) if schema else result.text)
    u = client.usage
    echo(
        f"[{client.backend.model_id}] load {loaded - started:.1f}s, call {time.perf_counter() - loaded:.2f}s, "
        f"cache hits {u.cache_hits}/{u.requests}, tokens in {u.prompt_tokens} out {u.completion_tokens}",
        err=True,
    )


@model_app.command("path")
@handles_errors
def model_path(
    model: str = typer.Argument("smollm2-135m-instruct", help="packaged name, .gguf file, folder or hub id"),
    gguf_file: Optional[str] = typer.Option(None, help="GGUF file inside a model folder"),
    adapter: Optional[str] = typer.Option(
        None, help="print this adapter's folder instead (packaged:<name> or a folder), e.g. for --lora-modules"
    ),
    store: bool = typer.Option(False, "--store", help="print the model store folder instead"),
    verbose: bool = VerboseOption,
) -> None:
    """Print an HF-format folder for MODEL, converting a GGUF once per machine into the model
    store ($KGJUDGE_MODEL_DIR, default ~/.cache/kgjudge/models; independent of the response
    cache's $KGJUDGE_CACHE_DIR)."""
    from kgjudge.llm import hf_model_dir, model_store_dir, resolve_adapter, resolve_model

    if store:
        echo(str(model_store_dir()))
    elif adapter is not None:
        echo(str(Path(resolve_adapter(adapter)).resolve()))
    else:
        echo(str(hf_model_dir(resolve_model(model, gguf_file))))
