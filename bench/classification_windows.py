"""How a neural classifier should read texts longer than its window, measured.

Issue 26. For a trained classifier folder and a labelled file, on the texts longer than one
window (and on all texts): accuracy when the text is cut to its first window (what a
truncating pipeline does), when its windows' scores are averaged weighted by their token
counts (nerflow's choice: for mean pooling this is the mean over every window's tokens),
and when each class takes its best window (max).

    python bench/classification_windows.py results/classification/bilstm_lac/model \\
        ../shared/data/chnsenticorp/test.tsv

Writes ``results/bench/classification_windows.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch
from benchutil import RESULTS, write_result
from benchutil import table as markdown

from nerflow.classification.examples import Example
from nerflow.classification.neural import encode_texts, window_batch
from nerflow.classification.predict import load_classifier


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("data", type=Path, help="a labelled TSV with label and text columns")
    parser.add_argument("--json-out", type=Path, default=RESULTS / "classification_windows.json")
    return parser.parse_args(argv)


def read(path: Path) -> list[Example]:
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    text = next(c for c in ("text", "text_a", "review") if c in rows[0])
    return [Example(i, row[text], row["label"]) for i, row in enumerate(rows)]


@torch.no_grad()
def window_scores(classifier, examples: list[Example]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[n_windows, n_classes]`` scores and the token count of each window, per text."""
    model, tokenizer = classifier.model, classifier.tokenizer
    encoded = encode_texts(
        [x.text for x in examples],
        tokenizer,
        model.featurizer,
        classifier.meta.settings["tokenization"],
        classifier.max_len,
        classifier.stride,
    )
    pad_id = tokenizer.pad_token_id or 0
    out = []
    for text in encoded:
        rows = list(zip(text.windows, text.features, strict=True))
        input_ids, mask, features = window_batch(rows, pad_id, classifier.device)
        scores = model(input_ids, mask, **features).float().cpu()
        out.append((scores, mask.sum(dim=1).float().cpu()))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    classifier = load_classifier(args.model, "cpu")
    examples = read(args.data)
    scored = window_scores(classifier, examples)
    gold = [classifier.labels.index(x.label) for x in examples]
    ways = {
        "first window (truncation)": lambda s, n: s[0],
        "token-weighted mean of windows": lambda s, n: (s * n[:, None]).sum(0) / n.sum(),
        "max over windows": lambda s, n: s.max(dim=0).values,
    }
    long = [i for i, (s, _) in enumerate(scored) if len(s) > 1]
    result = {
        "model": str(args.model),
        "data": str(args.data),
        "texts": len(examples),
        "long_texts": len(long),
        "max_len": classifier.max_len,
        "accuracy": {},
    }
    rows = []
    for name, pool in ways.items():
        right = [int(pool(*scored[i]).argmax()) == gold[i] for i in range(len(examples))]
        on_long = sum(right[i] for i in long) / max(1, len(long))
        result["accuracy"][name] = {"all": sum(right) / len(right), "long": on_long}
        rows.append([name, f"{sum(right) / len(right):.4f}", f"{on_long:.4f}"])
    write_result(args.json_out, result)
    print(
        f"{len(long)} of {len(examples)} texts are longer than one window of {classifier.max_len}"
    )
    print(markdown(["texts read as", "accuracy (all)", f"accuracy ({len(long)} long)"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
