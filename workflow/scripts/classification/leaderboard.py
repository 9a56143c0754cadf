"""The classification leaderboard: one row per run (dev selects, test is reported)."""

from nerflow import stage
from nerflow.classification.leaderboard import COLUMNS, leaderboard_rows, write_leaderboard
from nerflow.classification.report import leaderboard_page
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
rows = leaderboard_rows(
    smk.params.runs,
    smk.params.splits,
    list(smk.input.scores),
    list(smk.input.summaries),
    smk.params.kinds,
    smk.config["classification"]["experiments"],
    smk.params.members,
)
write_leaderboard(smk.output.table, rows)
write_json(smk.output.json, {row["run"]: row for row in rows})
with open(smk.output.html, "w", encoding="utf-8") as handle:
    handle.write(leaderboard_page(COLUMNS, rows))
for row in rows:
    log.info("%s", row)
stage.finish(smk)
