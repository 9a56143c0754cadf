"""Golden outputs: what one small experiment per head and one MLM pretraining produce.

Recorded before the redesign of issue 12 (models, training and configuration split by
responsibility) so that ``tests/test_golden.py`` can show behaviour is unchanged: same
seed, CPU, one thread, fixed fixture data -> byte-identical predictions, scores and
pretrained weights. Regenerate only on purpose (``python tests/golden.py --write``) and
say in the commit which behaviour changed and why.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from conftest import TYPES, make_records, tiny_scratch, tiny_train, write_word_list

GOLDEN_FILE = Path(__file__).resolve().parent / "fixtures" / "golden" / "golden.json"

MLM_TEXTS = [
    "浙商银行企业信贷部叶老桂博士认为，",
    "北京大学生在上海国际足球俱乐部踢球。",
    "那不勒斯vs锡耶纳以及桑普vs热那亚之上呢？",
    "我在北京上海大学读书，是中国人。",
    "老桂认为米兰的球队有人才。",
]


def _train_cfg(**overrides: Any) -> dict:
    return tiny_train(
        epochs=3, warmup_ratio=0.1, weight_decay=0.01, seed=7, device="cpu", **overrides
    )


SCRATCH = tiny_scratch(dropout=0.1)
BILSTM = {"embedding_dim": 32, "hidden": 32, "layers": 1, "dropout": 0.1}


def experiments(assets: Path, words: Path) -> dict[str, dict]:
    """One experiment per head (the CRF one on a BiLSTM with every feature)."""
    features = {
        "bigram": True,
        "lexicon": True,
        "lexicon_words": True,
        "gazetteer": True,
        "gazetteer_folds": 2,
        "bigram_min_freq": 1,
        "lexicon_path": str(words),
    }
    return {
        "softmax": {
            "encoder": "scratch",
            "scratch": SCRATCH,
            "head": "softmax",
            "tokenization": "wordpiece",
            "max_len": 32,
            "stride": 8,
            "scheme": "BIOS",
            "train": _train_cfg(),
        },
        "crf": {
            "encoder": "bilstm",
            "bilstm": BILSTM,
            "features": features,
            "feature_dir": str(assets),
            "head": "crf",
            "tokenization": "char",
            "max_len": 24,
            "stride": 6,
            "scheme": "BIOES",
            "train": _train_cfg(lr=1e-2, head_lr=5e-2, ema_decay=0.9),
        },
        "span": {
            "encoder": "scratch",
            "scratch": SCRATCH,
            "head": "span",
            "span_head_size": 16,
            # recorded before span_decoding; auto would decode this flat train set flat
            "span_decoding": "nested",
            "tokenization": "char",
            "max_len": 32,
            "stride": 8,
            "scheme": "BIOS",
            "train": _train_cfg(),
        },
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tagger_outputs(tokenizer_dir: Path, work: Path) -> dict[str, Any]:
    import torch

    from nerflow.evaluation.scoring import score
    from nerflow.features.featurizer import build_feature_assets
    from nerflow.inference.predict import predict_records
    from nerflow.jsonio import json_line
    from nerflow.models.folder import load_model
    from nerflow.text.tagging import label_list
    from nerflow.text.vocab import load_tokenizer
    from nerflow.training.cache import build_cache
    from nerflow.training.train import train

    train_records, dev_records = make_records(40, seed=0), make_records(16, seed=1)
    words = write_word_list(work / "words.txt")
    assets = work / "assets"
    tokenizer = load_tokenizer(tokenizer_dir)
    outputs: dict[str, Any] = {}
    for head, cfg in experiments(assets, words).items():
        torch.set_num_threads(1)
        if cfg.get("features"):
            build_feature_assets(
                [r.text for r in train_records], cfg["features"], assets, train_records
            )
        labels = label_list(TYPES, cfg["scheme"])
        cache = build_cache(
            train_records,
            tokenizer,
            cfg["tokenization"],
            cfg["max_len"],
            cfg["scheme"],
            labels,
            features=cfg.get("features"),
            feature_dir=cfg.get("feature_dir"),
            stride=cfg["stride"],
        )
        out = work / head
        summary = train(cfg, cache, dev_records, tokenizer, labels, out, out / "log.jsonl", 1, None)
        model, model_tokenizer, meta = load_model(out / "model", "cpu")
        predictions = predict_records(
            model,
            model_tokenizer,
            dev_records,
            cfg["tokenization"],
            16,
            4,
            cfg["scheme"],
            labels,
            8,
            "cpu",
        )
        lines = "".join(json_line(p.to_json()) for p in predictions)
        outputs[head] = {
            "predictions": lines,
            "scores": score(dev_records, predictions, TYPES),
            "best_epoch": summary["best_epoch"],
            "best_metric": summary["best_metric"],
            "losses": [json.loads(x)["loss"] for x in (out / "log.jsonl").read_text().splitlines()],
        }
    return outputs


def mlm_outputs(work: Path) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file

    from nerflow.pretraining.pretrain import pretrain_mlm
    from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

    tokenizer_dir = work / "mlm_tokenizer"
    save_char_tokenizer(build_char_vocab(MLM_TEXTS), tokenizer_dir)
    config = dict(
        SCRATCH,
        dropout=0.0,
        epochs=3,
        batch_size=4,
        lr=3e-3,
        warmup_ratio=0.2,
        whole_word=False,
        heldout_fraction=0.2,
        eval_every_steps=0,
        seed=5,
        device="cpu",
    )
    torch.set_num_threads(1)
    out, log = work / "mlm", work / "mlm_log.jsonl"
    summary = pretrain_mlm(MLM_TEXTS * 4, tokenizer_dir, out, config, threads=1, log_path=log)
    state = load_file(str(out / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].float().numpy().tobytes())
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    return {
        "steps": summary["steps"],
        "heldout_loss": summary["heldout_loss"],
        "heldout_accuracy": summary["heldout_accuracy"],
        "losses": [line["loss"] for line in lines],
        "weights_sha256": digest.hexdigest(),
    }


def golden_outputs(tokenizer_dir: Path) -> dict[str, Any]:
    import torch

    threads = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            return {"taggers": tagger_outputs(tokenizer_dir, work), "mlm": mlm_outputs(work)}
    finally:
        torch.set_num_threads(threads)


def main(argv: list[str]) -> int:
    from conftest import TEST_CHARS, WORD_PIECES, write_vocab
    from transformers import BertTokenizerFast

    with tempfile.TemporaryDirectory() as tmp:
        directory = write_vocab(Path(tmp), TEST_CHARS + WORD_PIECES)
        BertTokenizerFast(vocab=str(directory / "vocab.txt"), do_lower_case=True).save_pretrained(
            str(directory)
        )
        outputs = golden_outputs(directory)
    text = json.dumps(outputs, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if "--write" in argv:
        GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {GOLDEN_FILE}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
