"""The ``nerflow`` command line: tag, validate, score and check files with the workflow's
own functions (the same ones its rules call).

Exit codes: 0 success; 1 findings (invalid records, text mismatches); 2 usage errors and
inputs that cannot be used (missing file, not a model folder, unreadable line).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NoReturn, TextIO

from nerflow import __version__
from nerflow.atomic import atomic_output
from nerflow.config.choices import DEVICES
from nerflow.data.spans import OVERLAP_POLICIES
from nerflow.data.user_texts import INPUT_FORMATS
from nerflow.errors import UserError
from nerflow.export.optimize import QUANTIZATIONS
from nerflow.file_commands import (
    EXIT_OK,
    EXIT_USAGE,
    STDIO,
    UsageError,
    cmd_check_text,
    cmd_score,
    cmd_validate,
)
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.serving.settings import DEFAULT_HOST, DEFAULT_PORT, Batching, Limits

DEFAULT_OVERLAP_POLICY = "keep_longest"
"""The workflow's default ``validation.overlap_policy`` (a test keeps them equal)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (and exit 2), like the others."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------- predict


def _count_lines(path: str) -> int | None:
    if path == STDIO:
        return None
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _open_input(path: str, stack: ExitStack) -> TextIO:
    if path == STDIO:
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig")
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such file")
    return stack.enter_context(open(path, encoding="utf-8-sig"))  # noqa: SIM115


def cmd_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nerflow.data.user_texts import iter_input_texts
    from nerflow.jsonio import json_line
    from nerflow.tasks.registry import task_of_folder
    from nerflow.tasks.task import ANNOTATOR_OPTIONS

    for folder in args.models:
        if not Path(folder).is_dir():
            raise UsageError(f"{folder}: no such model folder")
    tasks = {task.name: task for task in map(task_of_folder, args.models)}
    if len(tasks) > 1:
        raise UsageError(f"model folders of several tasks ({', '.join(sorted(tasks))})")
    annotator = next(iter(tasks.values())).load_annotator()
    with ExitStack() as stack:
        source = _open_input(args.input, stack)
        texts = iter_input_texts(
            source, "<stdin>" if args.input == STDIO else args.input, args.format
        )
        options = {name: getattr(args, name) for name in ANNOTATOR_OPTIONS}
        outputs = annotator(args.models, texts, **options)
        if args.output in (None, STDIO):
            out: TextIO = sys.stdout
        else:
            out = stack.enter_context(atomic_output(args.output))
        show_bar = not args.quiet and sys.stderr.isatty()
        total = _count_lines(args.input) if show_bar else None  # a second read: only for a bar
        bar = stack.enter_context(
            tqdm(total=total, unit="text", file=sys.stderr, disable=not show_bar)
        )
        count = 0
        for obj in outputs:
            out.write(json_line(obj))
            count += 1
            bar.update()
    if args.output not in (None, STDIO):
        print(f"{args.output}: {count} texts predicted", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- export


def cmd_export(args: argparse.Namespace) -> int:
    from nerflow.tasks.registry import task_of_folder

    if not Path(args.model).is_dir():
        raise UsageError(f"{args.model}: no such model folder")
    if task_of_folder(args.model).name != "ner":
        raise UsageError(f"{args.model}: only tagger folders export (this is a classifier)")
    from nerflow.export.onnx import export_onnx

    report = export_onnx(args.model, args.out, opset=args.opset, quantization=args.quantize)
    spans = (
        f"same spans on {report.same_spans} of {report.records} check texts"
        if report.quantization
        else "same spans"
    )
    print(
        f"{report.folder}: exported ({', '.join(report.inputs)})"
        f"{f', {report.quantization}' if report.quantization else ''}; checked on "
        f"{report.windows} windows: scores within {report.max_abs_diff:.2g} of PyTorch's, "
        f"{spans}",
        file=sys.stderr,
    )
    return EXIT_OK


# --------------------------------------------------------------------------- serve


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from nerflow.serving.app import bind, create_app, model_annotator, serve
    except ModuleNotFoundError as error:
        if error.name != "aiohttp":
            raise
        raise UsageError("the server needs aiohttp: pip install -e '.[serve]'") from None
    for name in ("max_body_bytes", "max_texts", "max_text_chars", "max_batch_texts"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch_wait_ms < 0:
        raise UsageError("--batch-wait-ms must not be negative")
    limits = Limits(args.max_body_bytes, args.max_texts, args.max_text_chars)
    batching = Batching(not args.no_batching, args.batch_wait_ms, args.max_batch_texts)
    with bind(args.host, args.port) as sock:  # before loading: a busy port fails at once
        annotator, info = model_annotator(
            args.models,
            args.device,
            args.max_len,
            args.stride,
            args.batch_size,
            args.min_votes,
            args.threads,
        )
        serve(create_app(annotator, info, limits, batching), sock)
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def _add_record_options(parser: argparse.ArgumentParser, labels_help: str) -> None:
    """Options of the commands that validate labelled records: ``--labels``, overlaps."""
    parser.add_argument("--labels", nargs="+", metavar="TYPE", help=labels_help)
    parser.add_argument(
        "--overlap-policy",
        choices=OVERLAP_POLICIES,
        default=DEFAULT_OVERLAP_POLICY,
        help="nested/overlapping gold spans (the workflow's validation.overlap_policy)",
    )


def _json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print the {what} as JSON")


COMMANDS: dict[str, tuple[str, str]] = {
    "predict": (
        "tag or classify texts with a trained model (several folders: an ensemble vote)",
        "Tag texts: plain text (one per line) or JSON lines with 'text' (other "
        "fields kept; 'label' is replaced). A tagger writes CLUENER JSON lines with spans on "
        "the original text; a classifier writes the label and the class probabilities. "
        "Long texts are covered by sliding windows. Streams.",
    ),
    "serve": (
        "answer POST /predict over HTTP with NER models loaded once; a page at /",
        'An HTTP server: POST /predict takes {"text": ...} or {"texts": [...]} (JSON) '
        "and answers nerflow predict's records; GET /health; GET / is a page that highlights "
        "the entities of a typed text. Concurrent requests are batched into one model call. "
        "Listens on 127.0.0.1 unless --host says otherwise; Ctrl-C stops it.",
    ),
    "validate": (
        "check a CLUENER JSON-lines file; print file:line: reason per problem",
        "The workflow's validation: encoding, JSON, schema, span offsets and "
        "strings, entity types, overlaps. One 'file:line: reason' per rejected line.",
    ),
    "score": (
        "score predictions against gold (strict, CLUE, seqeval check, errors)",
        "Text-check, then score predictions against labelled gold records.",
    ),
    "export": (
        "export a model folder to run without PyTorch (ONNX)",
        "Write the model's scoring graph as ONNX (dynamic batch and length) with what "
        "decoding needs beside it; `nerflow predict OUT_DIR` then runs it on onnxruntime "
        "without torch. The export is checked against PyTorch before it is put in place.",
    ),
    "check-text": (
        "check that predictions fit their source texts",
        "The text-mismatch check: every prediction line against its source "
        "line (id, text, span offsets and strings).",
    ),
}
"""Each subcommand's one-line help and its description."""


def _command(
    commands: Any, name: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """The subcommand ``name`` (texts from :data:`COMMANDS`) that calls ``run``."""
    help_text, description = COMMANDS[name]
    command = commands.add_parser(
        name,
        help=help_text,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # defaults in --help
    )
    command.set_defaults(run=run)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="nerflow",
        description="Use what the nerflow workflow trained: tag text, validate, score, check.",
        epilog="Exit codes: 0 success, 1 findings, 2 usage errors or unusable inputs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = _command(commands, "predict", cmd_predict)
    predict.add_argument("models", nargs="+", metavar="MODEL_DIR", help="trained model folder")
    predict.add_argument("input", metavar="INPUT", help="file to tag, or - for stdin")
    predict.add_argument("-o", "--output", help="output JSON lines (default: stdout)")
    predict.add_argument("--format", choices=INPUT_FORMATS, default="auto", help="input format")
    predict.add_argument(
        "--batch-size", type=int, default=PREDICT_BATCH_SIZE, help="windows per batch"
    )
    predict.add_argument(
        "--device", choices=DEVICES, default="auto", help="auto: CUDA if present, else CPU"
    )
    predict.add_argument("--max-len", type=int, help="tokens per window (default: the model's)")
    predict.add_argument("--stride", type=int, help="tokens shared by consecutive windows")
    predict.add_argument("--min-votes", type=int, help="ensemble: votes a span needs")
    predict.add_argument(
        "--threads",
        type=int,
        help="CPU threads (default: torch's, or onnxruntime's for an exported folder)",
    )
    predict.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    serve_cmd = _command(commands, "serve", cmd_serve)
    serve_cmd.add_argument(
        "models",
        nargs="+",
        metavar="MODEL_DIR",
        help="NER model folder (several: an ensemble vote)",
    )
    serve_cmd.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    serve_cmd.add_argument("--port", type=int, default=DEFAULT_PORT, help="0: a free port")
    serve_cmd.add_argument(
        "--device", choices=DEVICES, default="auto", help="auto: CUDA if present, else CPU"
    )
    serve_cmd.add_argument("--max-len", type=int, help="tokens per window (default: the model's)")
    serve_cmd.add_argument("--stride", type=int, help="tokens shared by consecutive windows")
    serve_cmd.add_argument("--min-votes", type=int, help="ensemble: votes a span needs")
    serve_cmd.add_argument(
        "--threads", type=int, help="CPU threads of torch or onnxruntime (default: theirs)"
    )
    serve_cmd.add_argument(
        "--batch-size", type=int, default=PREDICT_BATCH_SIZE, help="windows per forward pass"
    )
    serve_cmd.add_argument(
        "--batch-wait-ms",
        type=float,
        default=Batching.wait_ms,
        help="how long a model call waits for more requests (0: it takes those that queued "
        "while the previous call ran)",
    )
    serve_cmd.add_argument(
        "--max-batch-texts", type=int, default=Batching.max_texts, help="texts per model call"
    )
    serve_cmd.add_argument("--no-batching", action="store_true", help="one model call per request")
    serve_cmd.add_argument(
        "--max-body-bytes", type=int, default=Limits.max_body_bytes, help="larger bodies: 413"
    )
    serve_cmd.add_argument(
        "--max-texts", type=int, default=Limits.max_texts, help="texts per request (more: 413)"
    )
    serve_cmd.add_argument(
        "--max-text-chars",
        type=int,
        default=Limits.max_text_chars,
        help="characters per text (more: 413)",
    )

    validate = _command(commands, "validate", cmd_validate)
    validate.add_argument("file", metavar="FILE", help="CLUENER JSON lines, or - for stdin")
    _add_record_options(validate, "allowed types, or a labels.json file")
    validate.add_argument("--split", default="train", help="split name for the report")
    validate.add_argument("--unlabelled", action="store_true", help="records need no 'label'")
    validate.add_argument("--rejected", metavar="PATH", help="write rejected lines as JSON lines")
    _json_flag(validate, "report")

    score_cmd = _command(commands, "score", cmd_score)
    score_cmd.add_argument("gold", metavar="GOLD", help="labelled CLUENER JSON lines, or -")
    score_cmd.add_argument("predictions", metavar="PRED", help="predictions, or - for stdin")
    _add_record_options(score_cmd, "types to average over, or a labels.json file")
    score_cmd.add_argument("--errors", metavar="TSV", help="write the error rows")
    _json_flag(score_cmd, "scores")

    export = _command(commands, "export", cmd_export)
    export.add_argument("model", metavar="MODEL_DIR", help="trained model folder")
    export.add_argument("out", metavar="OUT_DIR", help="folder to write (replaced if present)")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="export format")
    export.add_argument("--opset", type=int, default=18, help="ONNX opset")
    export.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        help="int8: dynamic int8 weights for the matrix products and LSTMs (faster on CPU; "
        "scores move slightly: measure the F1)",
    )

    check = _command(commands, "check-text", cmd_check_text)
    check.add_argument("source", metavar="SOURCE", help="JSON lines or plain text, or -")
    check.add_argument("predictions", metavar="PRED", help="predictions, or - for stdin")
    check.add_argument("--format", choices=INPUT_FORMATS, default="auto", help="source format")
    check.add_argument("--max-mismatches", type=int, default=0)
    _json_flag(check, "report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, UserError, OSError, ValueError) as error:
        print(f"nerflow {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
