"""The ``nerflow`` command line, run as a subprocess on fixtures: every subcommand with good
input, bad input (exit code and message), stdin and a long text."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import save_tiny_models

from nerflow.data.cluener import read_records, write_records
from nerflow.data.records import Record, Span
from nerflow.inference.ensemble import vote
from nerflow.inference.predict import predict_records

TYPES = ["address", "name", "org.unit", "地名"]
TEXTS = [
    "叶老桂在北京上海浙商银行",
    "那不勒斯\t米兰 国际足球俱乐部",  # a tab and a space stay in the text
    "中\u00a0国人大学生",  # NBSP
    "ac米兰的CS1.6🙂",  # Latin, digits, an astral emoji
]
LONG_TEXT = "北京上海浙商银行叶老桂博士认为米兰国际足球俱乐部" * 12  # 288 chars
MAX_LEN, STRIDE = 24, 6


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nerflow", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )


def lines_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-init tiny models for every head (and two more softmax seeds for a vote)."""
    members = [
        ("softmax", "softmax", 0),
        ("crf", "crf", 1),
        ("span", "span", 2),
        ("softmax2", "softmax", 3),
        ("softmax3", "softmax", 4),
    ]
    root = tmp_path_factory.mktemp("models")
    return save_tiny_models(root, [*TEXTS, LONG_TEXT], TYPES, members, MAX_LEN, STRIDE)


def expected(folder: Path, texts: list[str]) -> list[Record]:
    from nerflow.models.folder import load_model

    model, tokenizer, _meta = load_model(folder, "cpu")
    records = [Record(id=i, text=text) for i, text in enumerate(texts)]
    return predict_records(model, tokenizer, records, "char", MAX_LEN, STRIDE, "BIOES")


def spans_of(obj: dict) -> list[Span]:
    return sorted(
        Span(start, end, entity_type)
        for entity_type, mentions in obj["label"].items()
        for positions in mentions.values()
        for start, end in positions
    )


def test_console_script_is_declared() -> None:
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert [s.value for s in scripts if s.name == "nerflow"] == ["nerflow.cli:main"]


@pytest.mark.parametrize("command", ["predict", "validate", "score", "check-text"])
def test_every_subcommand_has_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: nerflow {command}" in result.stdout


def one_line_error(result: subprocess.CompletedProcess, *parts: str) -> None:
    """A user error: exit 2, nothing on stdout, one line on stderr holding ``parts``."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert all(part in result.stderr for part in parts), result.stderr


def test_usage_errors_exit_2_in_one_line() -> None:
    one_line_error(run_cli(), "the following arguments are required: COMMAND")
    one_line_error(run_cli("predict", "--no-such-option", "x", "y"), "unrecognized arguments")
    one_line_error(run_cli("predict", "m", "x", "--device", "gpu"), "invalid choice: 'gpu'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without CUDA")
def test_cuda_without_cuda_is_a_one_line_user_error(models: dict[str, Path]) -> None:
    result = run_cli("predict", str(models["crf"]), "-", "--device", "cuda", stdin="北京\n")
    one_line_error(result, "CUDA is not available here; use auto or cpu")


def test_version_and_defaults_in_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"nerflow {importlib.metadata.version('nerflow')}"
    text = " ".join(run_cli("predict", "--help").stdout.split())
    assert "(default: 64)" in text and "(default: auto)" in text
    assert "(default: keep_longest)" in " ".join(run_cli("validate", "--help").stdout.split())


def test_auto_refuses_a_first_line_that_looks_like_json(models: dict[str, Path]) -> None:
    """Neither a record without 'text' nor broken JSON is tagged as one long text."""
    for line in ('{"txt": "北京"}', '{"text": "北京"'):
        result = run_cli("predict", str(models["crf"]), "-", "-q", stdin=line + "\n")
        one_line_error(result, "<stdin>:1: looks like JSON but is not an object")
    tagged = run_cli("predict", str(models["crf"]), "-", "--format", "text", stdin='{"txt"}\n')
    assert tagged.returncode == 0 and lines_of(tagged.stdout)[0]["text"] == '{"txt"}'


@pytest.mark.parametrize("head", ["softmax", "crf", "span"])
def test_predict_plain_text_every_head(models: dict[str, Path], tmp_path: Path, head: str) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join([TEXTS[0], "", *TEXTS[1:], LONG_TEXT]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_cli("predict", str(models[head]), str(source), "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    got = lines_of(out.read_text(encoding="utf-8"))
    texts = [*TEXTS, LONG_TEXT]
    assert [obj["text"] for obj in got] == texts  # the ORIGINAL text, whitespace included
    assert [obj["id"] for obj in got] == [0, 2, 3, 4, 5]  # 0-based line index, blank skipped
    assert [spans_of(obj) for obj in got] == [r.spans for r in expected(models[head], texts)]
    assert any(span.end >= MAX_LEN for span in spans_of(got[-1])) or head == "span"
    check = run_cli("check-text", str(source), str(out))
    assert check.returncode == 0, check.stdout + check.stderr


def test_predict_jsonl_keeps_fields_from_stdin(models: dict[str, Path]) -> None:
    rows = [
        {"id": "a7", "text": TEXTS[0], "source": "news", "label": {"name": {"叶": [[0, 0]]}}},
        {"text": TEXTS[1], "meta": {"k": [1, 2]}},
    ]
    stdin = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    result = run_cli("predict", str(models["softmax"]), "-", stdin=stdin)
    assert result.returncode == 0, result.stderr
    got = lines_of(result.stdout)
    assert [obj["id"] for obj in got] == ["a7", 1]
    assert got[0]["source"] == "news" and got[1]["meta"] == {"k": [1, 2]}
    want = expected(models["softmax"], TEXTS[:2])
    assert [spans_of(obj) for obj in got] == [r.spans for r in want]  # label replaced


def test_predict_ensemble_votes(models: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    members = [models["softmax"], models["softmax2"], models["softmax3"]]
    result = run_cli("predict", *map(str, members), str(source), "--min-votes", "2")
    assert result.returncode == 0, result.stderr
    want = vote([expected(folder, TEXTS) for folder in members], 2)
    assert [spans_of(obj) for obj in lines_of(result.stdout)] == [r.spans for r in want]


def test_predict_bad_inputs(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "北京"}\n\n{"text": 3}\n', encoding="utf-8")
    result = run_cli("predict", str(models["softmax"]), str(bad), "-o", str(out))
    assert result.returncode == 2
    assert f"{bad}:3: not a JSON object with a string 'text'" in result.stderr
    assert not out.exists()  # nothing half-written

    result = run_cli("predict", str(models["softmax"]), str(tmp_path / "missing.txt"))
    assert result.returncode == 2 and "missing.txt: no such file" in result.stderr
    result = run_cli("predict", str(tmp_path), str(bad))
    assert result.returncode == 2 and "not a nerflow model folder" in result.stderr
    result = run_cli("predict", str(tmp_path / "nope"), str(bad))
    assert result.returncode == 2 and "no such model folder" in result.stderr


GOLD = [
    {"id": 0, "text": "叶老桂在北京",
     "label": {"name": {"叶老桂": [[0, 2]]}, "address": {"北京": [[4, 5]]}}},
    {"id": 1, "text": "浙商银行", "label": {"org.unit": {"浙商银行": [[0, 3]]}}},
    {"id": 2, "text": "没有实体", "label": {}},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_validate_good_and_bad(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.json", GOLD)
    result = run_cli("validate", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 valid records, 0 rejected" in result.stderr

    rows = [
        GOLD[0],
        {"text": "北京", "label": {"address": {"上海": [[0, 1]]}}},
        "not json",
        {"text": "北京", "label": {"address": {"北京": [[1, 0]]}}},
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(
        "".join(
            (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
        ),
        encoding="utf-8",
    )
    rejected = tmp_path / "rejected.jsonl"
    result = run_cli("validate", str(bad), "--rejected", str(rejected))
    assert result.returncode == 1
    printed = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in printed] == [f"{bad}:2", f"{bad}:3", f"{bad}:4"]
    assert "covers '北京' but its key is '上海'" in printed[0]
    assert "span_key_mismatch=1" in result.stderr and "span_reversed=1" in result.stderr
    assert "1 valid records, 3 rejected" in result.stderr
    assert len(rejected.read_text(encoding="utf-8").splitlines()) == 3

    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"labels": ["name", "address"]}), encoding="utf-8")
    result = run_cli("validate", str(good), "--labels", str(labels))
    assert result.returncode == 1 and f"{good}:2:" in result.stdout  # org.unit not allowed
    assert run_cli("validate", str(good), "--labels", *TYPES).returncode == 0
    assert run_cli("validate", str(tmp_path / "missing.json")).returncode == 2


def test_score_table_json_and_mismatch(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "gold.json", GOLD)
    pred_rows = [dict(GOLD[0]), {**GOLD[1], "label": {}}, GOLD[2]]
    pred = write_jsonl(tmp_path / "pred.json", pred_rows)
    result = run_cli("score", str(gold), str(pred))
    assert result.returncode == 0, result.stderr
    assert "F1 0.8000" in result.stdout and "org.unit" in result.stdout  # tp 2, fn 1
    result = run_cli("score", str(gold), str(pred), "--json")
    scores = json.loads(result.stdout)
    assert scores["micro"]["tp"] == 2 and scores["micro"]["fn"] == 1
    assert scores["seqeval_micro_f1"] == pytest.approx(scores["micro"]["f1"])

    edited = write_jsonl(
        tmp_path / "edited.json", [GOLD[0], {**GOLD[1], "text": "浙商银"}, GOLD[2]]
    )
    result = run_cli("score", str(gold), str(edited))
    assert result.returncode == 1
    assert f"{edited}:2: text_mismatch" in result.stdout
    assert "not scored" in result.stderr


def test_validate_json_is_json_with_its_findings_and_reads_stdin(tmp_path: Path) -> None:
    rows = [json.dumps(GOLD[0], ensure_ascii=False), "not json", "{broken"]
    result = run_cli("validate", "-", "--json", stdin="\n".join(rows) + "\n")
    assert result.returncode == 1
    report = json.loads(result.stdout)  # all of stdout is the JSON
    assert report["records"] == 1 and report["rejected"] == 2
    assert [line.split(": ")[0] for line in report["rejections"]] == ["<stdin>:2", "<stdin>:3"]
    assert "<stdin>: 3 lines, 1 valid records, 2 rejected" in result.stderr


def test_score_json_stays_json_on_a_mismatch_and_a_binary_file_is_named(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "gold.json", GOLD)
    edited = write_jsonl(
        tmp_path / "edited.json", [GOLD[0], {**GOLD[1], "text": "浙商银"}, GOLD[2]]
    )
    result = run_cli("score", str(gold), str(edited), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["scored"] is False and report["text_check"]["mismatched_line_numbers"] == [2]
    binary = tmp_path / "model.safetensors"
    binary.write_bytes(b'{"id": 0}\n\x80\xff\x00 weights\n')
    one_line_error(run_cli("score", str(gold), str(binary)), f"{binary}:2: invalid UTF-8")


def test_every_file_argument_reads_stdin(tmp_path: Path) -> None:
    gold = write_jsonl(tmp_path / "gold.json", GOLD)
    text = gold.read_text(encoding="utf-8")
    scored = run_cli("score", str(gold), "-", "--json", stdin=text)
    assert scored.returncode == 0 and json.loads(scored.stdout)["micro"]["f1"] == 1.0
    assert run_cli("score", "-", str(gold), stdin=text).returncode == 0
    assert run_cli("check-text", "-", str(gold), stdin=text).returncode == 0
    edited = text.replace(GOLD[1]["text"], GOLD[1]["text"][:-1], 1)
    result = run_cli("check-text", str(gold), "-", stdin=edited)
    assert result.returncode == 1 and "<stdin>:2: text_mismatch" in result.stdout
    one_line_error(run_cli("score", "-", "-", stdin=text), "only one file argument can be -")


def test_check_text_names_the_line(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "source.json", GOLD)
    good = write_jsonl(tmp_path / "good.json", GOLD)
    assert run_cli("check-text", str(source), str(good)).returncode == 0
    missing = write_jsonl(tmp_path / "missing.json", GOLD[:2])
    result = run_cli("check-text", str(source), str(missing))
    assert result.returncode == 1 and "missing_line" in result.stdout
    reordered = write_jsonl(tmp_path / "reordered.json", [GOLD[1], GOLD[0], GOLD[2]])
    result = run_cli("check-text", str(source), str(reordered), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["mismatched_line_numbers"] == [1, 2]
    shifted = {**GOLD[0], "label": {"name": {"叶老桂": [[1, 3]]}}}
    spans = write_jsonl(tmp_path / "spans.json", [shifted, *GOLD[1:]])
    result = run_cli("check-text", str(source), str(spans))
    assert result.returncode == 1 and f"{spans}:1: span_key_mismatch" in result.stdout
    assert run_cli("check-text", str(source), str(tmp_path / "nope.json")).returncode == 2


def test_predictions_written_in_process_match_the_cli(models: dict[str, Path], tmp_path) -> None:
    """The workflow's annotate path (annotate_file) and the CLI write the same lines."""
    from nerflow.inference.annotate import annotate_file

    source = write_records(tmp_path / "in.jsonl", [Record(i, t) for i, t in enumerate(TEXTS)])
    assert source == len(TEXTS)
    out = tmp_path / "rule.jsonl"
    annotate_file([models["crf"]], tmp_path / "in.jsonl", out, device="cpu")
    result = run_cli("predict", str(models["crf"]), str(tmp_path / "in.jsonl"))
    assert result.stdout == out.read_text(encoding="utf-8")
    assert [r.text for r in read_records(out)] == TEXTS


def test_cli_defaults_follow_the_workflow_schema() -> None:
    import yaml

    from nerflow.cli import DEFAULT_OVERLAP_POLICY

    schema_path = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    policy = schema["properties"]["validation"]["properties"]["overlap_policy"]
    assert policy["default"] == DEFAULT_OVERLAP_POLICY
