"""Model folders written by earlier code still load and predict as they did
(tests/fixtures/old_models, each made by the script beside it with the code of the commit
in its name)."""

from __future__ import annotations

import json
from pathlib import Path

from nerflow.data.cluener import read_records
from nerflow.features.embeddings import FEATURE_SIZE_KEYS
from nerflow.inference.predict import predict_records
from nerflow.jsonio import json_line
from nerflow.models.folder import load_model

OLD = Path(__file__).resolve().parent / "fixtures" / "old_models"


def test_a_bilstm_folder_saved_before_lac_hidden_loads_and_predicts_as_then() -> None:
    """79dfbfa saved BiLSTM sizes without lac_hidden (and lac_encoder): a feature a folder
    does not know is off, for every feature (the code of d902353 refused this folder)."""
    folder = OLD / "bilstm_crf_79dfbfa"
    saved = json.loads((folder / "model" / "nerflow_bilstm.json").read_text(encoding="utf-8"))
    unknown_then = sorted(set(FEATURE_SIZE_KEYS) - set(saved))
    assert {"lac_hidden", "lac_hidden_dim", "lac_encoder"} <= set(unknown_then)
    model, tokenizer, meta = load_model(folder / "model", "cpu")
    assert meta.head == "crf" and model.featurizer is not None
    assert all(model.emitter.config[key] == 0 for key in unknown_then)
    records = read_records(folder / "dev.jsonl")
    predictions = predict_records(
        model, tokenizer, records, "char", 24, 6, "BIOS", model.labels, 8, "cpu"
    )
    written = "".join(json_line(record.to_json()) for record in predictions)
    assert written == (folder / "predictions.jsonl").read_text(encoding="utf-8")
    assert any(record.spans for record in predictions), "a fixture that predicts something"
