# Report figures and tables (snakemake --report results/report.html). Helpers are in
# report_common.smk. Every output shown in the report is wrapped in report() with a
# caption under workflow/report/.


rule report_scores:
    input:
        scores="results/{run}/dev_scores.json",
        labels="results/data/labels.json",
    output:
        f1=report(
            "results/{run}/plots/per_type_f1.svg",
            caption="../report/per_type_f1.rst",
            category="Experiments",
            subcategory="{run}",
            labels={"figure": "F1 per type"},
        ),
        errors=report(
            "results/{run}/plots/errors.html",
            caption="../report/errors.rst",
            category="Experiments",
            subcategory="{run}",
            labels={"figure": "error categories"},
        ),
        errors_tsv="results/{run}/plots/errors.tsv",
    log:
        "logs/{run}/report_scores.log",
    benchmark:
        "benchmarks/{run}/report_scores.tsv"
    wildcard_constraints:
        run=RUN_PATTERN,
    conda:
        "../envs/report.yaml"
    params:
        code=script_code("report_scores"),
    script:
        "../scripts/report_scores.py"


rule report_training:
    input:
        "results/{run}/train_log.jsonl",
    output:
        report(
            "results/{run}/plots/training_curves.svg",
            caption="../report/training_curves.rst",
            category="Experiments",
            subcategory="{run}",
            labels={"figure": "training curves"},
        ),
    log:
        "logs/{run}/report_training.log",
    benchmark:
        "benchmarks/{run}/report_training.tsv"
    wildcard_constraints:
        run=EXPERIMENT_PATTERN,
    conda:
        "../envs/report.yaml"
    params:
        code=script_code("report_training"),
    script:
        "../scripts/report_training.py"


rule report_confusion:
    input:
        gold="results/data/dev.jsonl",
        predictions="results/{run}/predictions/dev.json",
        labels="results/data/labels.json",
    output:
        figure=report(
            "results/{run}/plots/confusion.svg",
            caption="../report/confusion.rst",
            category="Experiments",
            subcategory="{run}",
            labels={"figure": "type confusion"},
        ),
        matrix="results/{run}/plots/confusion.json",
    log:
        "logs/{run}/report_confusion.log",
    benchmark:
        "benchmarks/{run}/report_confusion.tsv"
    wildcard_constraints:
        run=RUN_PATTERN,
    conda:
        "../envs/report.yaml"
    params:
        code=script_code("report_confusion"),
    script:
        "../scripts/report_confusion.py"


rule report_error_browser:
    input:
        gold="results/data/dev.jsonl",
        predictions="results/{run}/predictions/dev.json",
        labels="results/data/labels.json",
    output:
        report(
            "results/{run}/plots/error_browser.html",
            caption="../report/error_browser.rst",
            category="Experiments",
            subcategory="{run}",
            labels={"figure": "error browser"},
        ),
    log:
        "logs/{run}/report_error_browser.log",
    benchmark:
        "benchmarks/{run}/report_error_browser.tsv"
    wildcard_constraints:
        run=RUN_PATTERN,
    conda:
        "../envs/report.yaml"
    params:
        code=script_code("report_error_browser"),
    script:
        "../scripts/report_error_browser.py"


rule report_lengths:
    input:
        records=expand("results/data/{split}.jsonl", split=SPLITS),
        tokenizer=lambda wildcards: length_settings(wildcards.run)["tokenizer"],
    output:
        figure=report(
            "results/{run}/plots/text_lengths.svg",
            caption="../report/text_lengths.rst",
            category=report_category,
            subcategory=report_subcategory,
            labels={"figure": "text lengths ({run})"},
        ),
        stats="results/{run}/plots/text_lengths.json",
    log:
        "logs/{run}/report_lengths.log",
    benchmark:
        "benchmarks/{run}/report_lengths.tsv"
    wildcard_constraints:
        run=REPORT_LENGTH_RUNS,
    conda:
        "../envs/report.yaml"
    params:
        splits=SPLITS,
        mode=lambda wildcards: length_settings(wildcards.run)["mode"],
        max_len=lambda wildcards: length_settings(wildcards.run)["max_len"],
        code=script_code("report_lengths"),
    script:
        "../scripts/report_lengths.py"


rule report_labels:
    input:
        reports=expand("results/data/{split}.report.json", split=SPLITS),
        labels="results/data/labels.json",
    output:
        report(
            "results/plots/label_distribution.svg",
            caption="../report/label_distribution.rst",
            category="Data",
            subcategory="Labels",
            labels={"figure": "entities per type and split"},
        ),
    log:
        "logs/report_labels.log",
    benchmark:
        "benchmarks/report_labels.tsv"
    conda:
        "../envs/report.yaml"
    params:
        splits=SPLITS,
        code=script_code("report_labels"),
    script:
        "../scripts/report_labels.py"


rule leaderboard:
    input:
        scores=expand("results/{run}/dev_scores.json", run=REPORT_RUNS),
        summaries=expand("results/{run}/train_summary.json", run=REPORT_RUNS),
        browsers=expand("results/{run}/plots/error_browser.html", run=REPORT_RUNS),
        references=["results/oracle/dev_scores.json"],
        test_scores=(
            expand("results/{run}/test_scores.json", run=REPORT_RUNS)
            if TEST_LABELLED
            else []
        ),
        test_references=["results/oracle/test_scores.json"] if TEST_LABELLED else [],
        labels="results/data/labels.json",
    output:
        html=report(
            "results/leaderboard.html",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"table": "leaderboard"},
        ),
        tsv=report(
            "results/leaderboard.tsv",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
            labels={"table": "leaderboard (TSV download)"},
        ),
    log:
        "logs/leaderboard.log",
    benchmark:
        "benchmarks/leaderboard.tsv"
    conda:
        "../envs/report.yaml"
    params:
        runs=REPORT_RUNS,
        experiments={name: run_config(name) for name in REPORT_RUNS},
        references=["oracle"],
        code=script_code("leaderboard"),
    script:
        "../scripts/leaderboard.py"
