"""Tensor cache of one split: token ids, aligned label ids, offsets, record ids."""

import json

from nerflow import stage
from nerflow.cache import build_cache, save_cache
from nerflow.records import read_records
from nerflow.tagging import label_list
from nerflow.vocab import load_tokenizer

smk = snakemake  # noqa: F821
log = stage.start(smk)
with open(smk.input.labels, encoding="utf-8") as handle:
    labels = label_list(json.load(handle)["labels"], smk.params.scheme)
# Feature assets (when the features block enables any) live in the tokenizer folder.
cache = build_cache(
    read_records(smk.input.records),
    load_tokenizer(smk.input.tokenizer),
    smk.params.mode,
    smk.params.max_len,
    smk.params.scheme,
    labels,
    features=smk.params.features,
    feature_dir=smk.input.tokenizer,
    stride=smk.params.stride,
)
save_cache(smk.output[0], cache)
log.info(
    "%d sequences (%d texts in windows); spans lost to tokenisation: %s",
    len(cache["ids"]),
    cache["meta"]["n_windowed"],
    cache["lost_spans"],
)
stage.finish(smk)
