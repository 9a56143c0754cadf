"""Text-length distribution in tokens (a run's tokenizer and mode) with max_len marked."""

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.jsonio import write_json
from nerflow.report.plots import length_stats, save_figure, text_lengths_figure, token_lengths
from nerflow.text.vocab import load_tokenizer

smk = snakemake  # noqa: F821
log = stage.start(smk)
tokenizer = load_tokenizer(smk.input.tokenizer)
mode, max_len = smk.params.mode, smk.params.max_len
lengths = {
    split: token_lengths((r.text for r in read_records(path)), tokenizer, mode)
    for split, path in zip(smk.params.splits, smk.input.records, strict=True)
}
stats = {split: length_stats(values, max_len) for split, values in lengths.items()}
stats["all"] = length_stats([x for values in lengths.values() for x in values], max_len)
write_json(smk.output.stats, {"mode": mode, "max_len": max_len, "splits": stats})
title = f"{smk.wildcards.run}: text length in {mode} tokens"
save_figure(text_lengths_figure(lengths, max_len, title=title), smk.output.figure)
log.info("length stats (%s, max_len %d): %s", mode, max_len, stats["all"])
stage.finish(smk)
