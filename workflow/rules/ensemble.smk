# Ensembles: an ensemble is a run whose predictions are a span-level vote over its member
# experiments' predictions (nerflow.inference.ensemble); scoring, text checks, submission and the
# report treat it like any experiment. member_files() is in common.smk.


rule ensemble_predict:
    input:
        member_files("results/{member}/predictions/{split}.json"),
    output:
        "results/{run}/predictions/{split}.json",
    log:
        "logs/{run}/ensemble_predict_{split}.log",
    benchmark:
        "benchmarks/{run}/ensemble_predict_{split}.tsv"
    wildcard_constraints:
        run=ENSEMBLE_PATTERN,
    conda:
        "../envs/core.yaml"
    params:
        members=lambda wildcards: ENSEMBLES[wildcards.run]["members"],
        min_votes=lambda wildcards: ENSEMBLES[wildcards.run]["min_votes"],
        code=script_code("ensemble_predict"),
    script:
        "../scripts/ensemble_predict.py"


rule ensemble_summary:
    input:
        member_files("results/{member}/train_summary.json"),
    output:
        "results/{run}/train_summary.json",
    log:
        "logs/{run}/ensemble_summary.log",
    benchmark:
        "benchmarks/{run}/ensemble_summary.tsv"
    wildcard_constraints:
        run=ENSEMBLE_PATTERN,
    conda:
        "../envs/core.yaml"
    params:
        members=lambda wildcards: ENSEMBLES[wildcards.run]["members"],
        min_votes=lambda wildcards: ENSEMBLES[wildcards.run]["min_votes"],
        code=script_code("ensemble_summary"),
    script:
        "../scripts/ensemble_summary.py"
