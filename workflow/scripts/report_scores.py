"""Per-type F1 chart and error-category table of one experiment's dev scores."""

import json

from nerflow import stage
from nerflow.data.labels import read_labels
from nerflow.report.leaderboard import error_table, html_table, write_tsv
from nerflow.report.plots import per_type_f1_figure, save_figure

smk = snakemake  # noqa: F821
log = stage.start(smk)
run = smk.wildcards.run
with open(smk.input.scores, encoding="utf-8") as handle:
    scores = json.load(handle)
types = read_labels(smk.input.labels)
types += [t for t in scores.get("extra_types", []) if t not in types]
save_figure(
    per_type_f1_figure(scores, types, title=f"{run}: dev F1 per entity type"), smk.output.f1
)
columns, rows = error_table(scores["errors"], types)
write_tsv(smk.output.errors_tsv, columns, rows)
with open(smk.output.errors, "w", encoding="utf-8") as handle:
    handle.write(
        html_table(
            columns,
            rows,
            f"{run}: dev errors by category and type",
            note="Prediction errors count under the predicted type, missed spans under the "
            "gold type.",
            highlight_best=False,
        )
    )
log.info(
    "micro F1 %.4f; errors by category %s", scores["micro"]["f1"], scores["errors"]["by_category"]
)
stage.finish(smk)
