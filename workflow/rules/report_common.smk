# Helpers of the report rules (workflow/rules/report.smk). Include this file after
# common.smk and before report.smk; add report_targets() to the inputs of rule all.

# Experiments the report shows: those rule all runs (RUN_EXPERIMENTS of common.smk).
REPORT_RUNS = list(RUN_EXPERIMENTS)
# Runs with a text-length figure: every experiment, and the oracle (checks tokenizer).
REPORT_LENGTH_RUNS = f"oracle|{EXPERIMENT_PATTERN}"


def report_targets():
    """Every report output: data figures, the leaderboard, per-experiment figures."""
    targets = [
        "results/plots/label_distribution.svg",
        "results/oracle/plots/text_lengths.svg",
        "results/leaderboard.tsv",
        "results/leaderboard.html",
    ]
    for run in REPORT_RUNS:
        names = [
            "per_type_f1.svg",
            "errors.html",
            "error_browser.html",
            "confusion.svg",
        ]
        if (
            run in EXPERIMENTS
        ):  # an ensemble has no training log or tokenizer of its own
            names += ["training_curves.svg", "text_lengths.svg"]
        targets += [f"results/{run}/plots/{name}" for name in names]
    return targets


def length_settings(run):
    """Tokenizer folder, tokenisation mode and max_len of a run's length plot."""
    if run == "oracle":
        return {
            "tokenizer": checks_tokenizer(),
            "mode": CHECKS["oracle_mode"],
            "max_len": CHECKS["max_len"],
        }
    return {
        "tokenizer": tokenizer_dir(run),
        "mode": EXPERIMENTS[run]["tokenization"],
        "max_len": EXPERIMENTS[run]["max_len"],
    }


def report_category(wildcards):
    """The oracle's figures describe the data; an experiment's figures its own section."""
    return "Data" if wildcards.run == "oracle" else "Experiments"


def report_subcategory(wildcards):
    return "Text lengths" if wildcards.run == "oracle" else wildcards.run
