rule oracle_predictions:
    input:
        records="results/data/{split}.jsonl",
        tokenizer=checks_tokenizer(),
    output:
        "results/oracle/predictions/{split}.json",
    log:
        "logs/oracle/predict_{split}.log",
    benchmark:
        "benchmarks/oracle/predict_{split}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        scheme=SCHEME,
        mode=CHECKS["oracle_mode"],
        max_len=CHECKS["max_len"],
        stride=CHECKS["stride"],
        truncate=CHECKS["truncate"],
        code=script_code("oracle_predictions"),
    script:
        "../scripts/oracle_predictions.py"


rule text_check:
    input:
        source="results/data/{split}.jsonl",
        predictions="results/{run}/predictions/{split}.json",
    output:
        "results/{run}/textcheck/{split}.json",
    log:
        "logs/{run}/textcheck_{split}.log",
    benchmark:
        "benchmarks/{run}/textcheck_{split}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        max_mismatches=CHECKS["text_mismatch_max"],
        source_format="jsonl",
        code=script_code("text_check"),
    script:
        "../scripts/text_check.py"


rule score:
    input:
        gold="results/data/{split}.jsonl",
        predictions="results/{run}/predictions/{split}.json",
        textcheck="results/{run}/textcheck/{split}.json",
        labels="results/data/labels.json",
    output:
        scores="results/{run}/{split}_scores.json",
        errors="results/{run}/{split}_errors.tsv",
    log:
        "logs/{run}/score_{split}.log",
    benchmark:
        "benchmarks/{run}/score_{split}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        code=script_code("score"),
    script:
        "../scripts/score.py"
