"""Error browser of one run: its dev records with errors, gold and predicted spans marked."""

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.data.labels import read_labels
from nerflow.report.error_browser import error_browser_html

smk = snakemake  # noqa: F821
log = stage.start(smk)
gold, pred = read_records(smk.input.gold), read_records(smk.input.predictions)
title = f"{smk.wildcards.run}: dev errors in context"
page = error_browser_html(gold, pred, read_labels(smk.input.labels), title=title)
with open(smk.output[0], "w", encoding="utf-8") as handle:
    handle.write(page)
log.info("error browser of %d dev records: %d bytes", len(gold), len(page.encode("utf-8")))
stage.finish(smk)
