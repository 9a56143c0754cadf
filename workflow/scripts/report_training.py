"""Training loss and dev F1 curves of one experiment (from its train_log.jsonl)."""

from nerflow import stage
from nerflow.report.plots import read_jsonl, save_figure, training_curves_figure

smk = snakemake  # noqa: F821
log = stage.start(smk)
rows = read_jsonl(smk.input[0])
figure = training_curves_figure(rows, title=f"{smk.wildcards.run}: training")
save_figure(figure, smk.output[0])
log.info("%d evaluations plotted", len(rows))
stage.finish(smk)
