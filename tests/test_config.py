from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgjudge import ConfigError, default_config, dump_config, load_config, parse_config, resolve_env
from kgjudge.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


RUN_CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if p.parent.name != "train")


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    config = load_config(path)
    assert config.backends, "every shipped config names at least one backend"


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_training_configs_validate(path: Path) -> None:
    from kgjudge.judges.kasft._training import load_train_config

    assert load_train_config(path).model_dump()


def test_defaults_and_dump() -> None:
    config = default_config()
    assert config.backends["default"].type == "hf.v1"
    assert config.backends["default"].model == "smollm2-135m-instruct"
    assert "batch_size: 8" in dump_config(config)


def test_unknown_key_names_file_key_and_valid_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "backends:\n  default:\n    type: hf.v1\n    batchsize: 4\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path) and err.key == "backends.default.batchsize"
    assert "batch_size" in err.choices and "adapters" in err.choices
    assert str(path) in str(err) and "valid choices" in str(err)


def test_unknown_type_lists_registered_types(tmp_path: Path) -> None:
    path = write(tmp_path, "backends:\n  default:\n    type: hf.v9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "backends.default.type"
    assert {"fake.v1", "hf.v1", "openai.v1", "vllm.v1"} <= set(info.value.choices)


def test_bad_value_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "backends:\n  d:\n    type: hf.v1\n    batch_size: 0\n")
    with pytest.raises(ConfigError, match=r"key 'backends.d.batch_size'.*greater than or equal to 1"):
        load_config(path)
    path = write(tmp_path, "backends:\n  d:\n    type: hf.v1\n    dtype: fp8\n")
    with pytest.raises(ConfigError, match=r"backends.d.dtype.*'fp8'.*'float32'"):
        load_config(path)


def test_unknown_top_level_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "cache: {enabled: true}\ncahce: {}\n"))
    assert info.value.key == "cahce" and "cache" in info.value.choices


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "backends:\n  default:\n    type: [hf.v1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: invalid YAML at line \d+"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_secrets_only_as_environment_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    literal = "backends:\n  d:\n    type: openai.v1\n    model: m\n    api_key: sk-123\n"
    with pytest.raises(ConfigError, match=r"key 'backends.d.api_key'.*environment reference"):
        load_config(write(tmp_path, literal))
    config = parse_config({"backends": {"d": {"type": "openai.v1", "model": "m", "api_key": "${env:KG_TEST_KEY}"}}})
    monkeypatch.delenv("KG_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="environment variable KG_TEST_KEY is not set"):
        resolve_env(config.backends["d"].api_key, key="backends.d.api_key")
    monkeypatch.setenv("KG_TEST_KEY", "s3cret")
    assert resolve_env(config.backends["d"].api_key) == "s3cret"
    assert "s3cret" not in dump_config(config)


def test_cli_config_validate_and_show(tmp_path: Path) -> None:
    good = REPO / "configs" / "backends" / "fake.yaml"
    result = runner.invoke(app, ["config", "validate", str(good)])
    assert result.exit_code == 0 and "ok" in result.output
    bad = write(tmp_path, "backends:\n  default:\n    type: nope.v1\n")
    result = runner.invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 2
    assert "key 'backends.default.type'" in result.output and "fake.v1" in result.output
    result = runner.invoke(app, ["config", "show", str(good)])
    assert result.exit_code == 0 and "type: fake.v1" in result.output and "latency_s: 0.0" in result.output


def test_judge_and_training_configs_report_yaml_errors_with_their_line(tmp_path: Path) -> None:
    from kgjudge.judges import load_judge_file
    from kgjudge.judges.kasft._training import load_train_config

    path = write(tmp_path, "model: x\ndata: [oops\n")
    for load in (load_train_config, load_judge_file):
        with pytest.raises(ConfigError, match=r"c.yaml: invalid YAML at line \d+"):
            load(path)
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_judge_file(write(tmp_path, "- a list\n"))


def test_a_config_that_is_not_utf8_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("backends:\n  default:\n    type: fake.v1\n    model: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: not valid UTF-8 at line 4")
    docs = tmp_path / "d.txt"
    docs.write_text("Paris is in France.")
    result = CliRunner().invoke(app, ["build", str(docs), "-c", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output.strip().startswith(f"error: {path}: not valid UTF-8 at line 4")
    assert len(result.output.strip().splitlines()) == 1


def test_credentials_in_urls_are_refused_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in [("store", {"type": "neo4j.v1", "uri": "bolt://neo4j:hunter2@db.example:7687"}),
                       ("backends", {"default": {"type": "openai.v1", "model": "m", "base_url": "https://sk-abc@h/v1"}})]:
        with pytest.raises(ConfigError) as info:
            parse_config({key: value})
        assert "hunter2" not in str(info.value) and "sk-abc" not in str(info.value)
        assert "credentials must not be written in URLs" in str(info.value)


def test_a_store_error_never_shows_the_password_of_its_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("neo4j")
    from kgjudge import StoreError
    from kgjudge.graph import build_store

    monkeypatch.setenv("KGJUDGE_TEST_NEO4J_URI", "bolt://neo4j:hunter2@127.0.0.1:9")
    config = parse_config({"store": {"type": "neo4j.v1", "uri": "${env:KGJUDGE_TEST_NEO4J_URI}", "user": "neo4j",
                                     "password": None,
                                     "max_attempts": 1, "connection_timeout_s": 1}})
    with pytest.raises(StoreError) as info:
        build_store(config.store)
    assert "hunter2" not in str(info.value) and "bolt://***@127.0.0.1:9" in str(info.value)


def test_a_missing_environment_variable_of_a_store_names_the_full_key(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("neo4j")
    from kgjudge.graph import build_store

    monkeypatch.delenv("KGJUDGE_TEST_UNSET_URI", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("store:\n  type: neo4j.v1\n  uri: ${env:KGJUDGE_TEST_UNSET_URI}\n")
    config = load_config(path)
    with pytest.raises(ConfigError) as info:
        build_store(config.store, file=config.source_file)
    assert info.value.key == "store.uri" and info.value.file == str(path)
