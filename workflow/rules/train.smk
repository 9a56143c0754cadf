# The train tensor cache shared by the experiments that agree on what it depends on
# (common.smk, CACHES): settings.json beside it holds the settings of its key.
rule tensor_cache:
    input:
        records="results/data/train.jsonl",
        labels="results/data/labels.json",
        tokenizer=lambda wildcards: tokenizer_folder(CACHES[wildcards.key]["tokenizer"]),
        analysis=cache_analysis,
    output:
        cache="results/inputs/{key}/train.pt",
        settings="results/inputs/{key}/settings.json",
    log:
        "logs/inputs/{key}/cache.log",
    benchmark:
        "benchmarks/inputs/{key}/cache.tsv"
    wildcard_constraints:
        key=CACHE_PATTERN,
    conda:
        "../envs/train.yaml"
    params:
        settings=lambda wildcards: CACHES[wildcards.key],
        code=script_code("tensor_cache"),
    script:
        "../scripts/tensor_cache.py"


rule train:
    input:
        cache=train_cache,
        dev="results/data/dev.jsonl",
        labels="results/data/labels.json",
        tokenizer=lambda wildcards: tokenizer_dir(wildcards.run),
        encoder=encoder_input,
    output:
        model=directory("results/{run}/trained/model"),
        log="results/{run}/train_log.jsonl",
        summary="results/{run}/train_summary.json",
    log:
        "logs/{run}/train.log",
    benchmark:
        "benchmarks/{run}/train.tsv"
    wildcard_constraints:
        run=EXPERIMENT_PATTERN,
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        experiment=lambda wildcards: experiment(wildcards.run),
        encoder=encoder_source,
        checkpoint_dir=lambda wildcards: f"results/{wildcards.run}/checkpoints",
        code=script_code("train"),
    script:
        "../scripts/train.py"


rule predict:
    input:
        model="results/{run}/trained/model",
        records="results/data/{split}.jsonl",
        analysis=predict_analysis,
    output:
        "results/{run}/predictions/{split}.json",
    log:
        "logs/{run}/predict_{split}.log",
    benchmark:
        "benchmarks/{run}/predict_{split}.tsv"
    wildcard_constraints:
        run=EXPERIMENT_PATTERN,
    conda:
        "../envs/train.yaml"
    threads: 4
    resources:
        gpu=1,
    params:
        device=lambda wildcards: EXPERIMENTS[wildcards.run]["train"]["device"],
        code=script_code("predict"),
    script:
        "../scripts/predict.py"


rule dev_scores_table:
    input:
        dev=expand("results/{run}/dev_scores.json", run=RUN_EXPERIMENTS),
        test=(
            expand("results/{run}/test_scores.json", run=RUN_EXPERIMENTS)
            if TEST_LABELLED
            else []
        ),
    output:
        "results/dev_scores.json",
    log:
        "logs/dev_scores_table.log",
    benchmark:
        "benchmarks/dev_scores_table.tsv"
    conda:
        "../envs/core.yaml"
    params:
        runs=RUN_EXPERIMENTS,
        code=script_code("dev_scores_table"),
    script:
        "../scripts/dev_scores_table.py"


rule submission:
    input:
        predictions="results/{run}/predictions/test.json",
        textcheck="results/{run}/textcheck/test.json",
    output:
        json="results/submission/{run}/cluener_predict.json",
        archive="results/submission/{run}.zip",
    log:
        "logs/{run}/submission.log",
    benchmark:
        "benchmarks/{run}/submission.tsv"
    conda:
        "../envs/core.yaml"
    params:
        code=script_code("submission"),
    script:
        "../scripts/submission.py"
