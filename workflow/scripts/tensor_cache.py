"""Tensor cache of train: token ids, aligned label ids, offsets, record ids; and beside it
``settings.json``, the settings its key was made of (what the cache depends on)."""

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.data.labels import read_labels
from nerflow.jsonio import write_json
from nerflow.text.tagging import label_list
from nerflow.text.vocab import load_tokenizer
from nerflow.training.cache import build_cache, save_cache

smk = snakemake  # noqa: F821
log = stage.start(smk)
settings = smk.params.settings
labels = label_list(read_labels(smk.input.labels), settings["scheme"])
# Feature assets (when the features block enables any) live in the tokenizer folder.
cache = build_cache(
    read_records(smk.input.records),
    load_tokenizer(smk.input.tokenizer),
    settings["tokenization"],
    settings["max_len"],
    settings["scheme"],
    labels,
    features=settings["features"],
    feature_dir=smk.input.tokenizer,
    stride=settings["stride"],
    analyses=next(iter(smk.input.analysis), None),  # LAC's analysis of train, when used
)
save_cache(smk.output.cache, cache)
write_json(smk.output.settings, settings)
log.info(
    "%d sequences (%d texts in windows); spans lost to tokenisation: %s",
    len(cache.ids),
    cache.meta.n_windowed,
    cache.lost_spans,
)
stage.finish(smk)
