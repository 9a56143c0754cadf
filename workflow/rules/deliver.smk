# What users take away: the model folder with its model card, and their own files tagged
# by a trained run (config key `annotate`).


rule model_card:
    input:
        trained="results/{run}/trained/model",
        summary="results/{run}/train_summary.json",
        scores=lambda wildcards: scored_files(wildcards.run),
        data=[config["data"][split] for split in SPLITS],
        reports=expand("results/data/{split}.report.json", split=SPLITS),
    output:
        # The card, written last into the released folder: declared instead of the folder,
        # which therefore carries no Snakemake timestamp file.
        "results/{run}/model/README.md",
    log:
        "logs/{run}/model_card.log",
    benchmark:
        "benchmarks/{run}/model_card.tsv"
    wildcard_constraints:
        run=EXPERIMENT_PATTERN,
    conda:
        "../envs/core.yaml"
    params:
        experiment=lambda wildcards: experiment(wildcards.run),
        splits=SPLITS,
        scored=lambda wildcards: SCORED_SPLITS,
        code=script_code("model_card"),
    script:
        "../scripts/model_card.py"


# In `rule all` for the runs of `export_onnx`; or ask for it, e.g. `snakemake
# results/RUN/onnx` for the best run of results/dev_scores.json (needs the export extra).
rule export_onnx:
    input:
        model="results/{run}/trained/model",
    output:
        directory("results/{run}/onnx"),
    log:
        "logs/{run}/export_onnx.log",
    benchmark:
        "benchmarks/{run}/export_onnx.tsv"
    wildcard_constraints:
        run=EXPERIMENT_PATTERN,
    conda:
        "../envs/train.yaml"
    threads: 4
    params:
        quantization=config["export_quantize"],
        code=script_code("export_onnx"),
    script:
        "../scripts/export_onnx.py"


rule annotate:
    input:
        models=lambda wildcards: run_model_dirs(wildcards.run),
        source=lambda wildcards: ANNOTATE["files"][wildcards.name],
    output:
        "results/{run}/annotated/{name}.jsonl",
    log:
        "logs/{run}/annotate_{name}.log",
    benchmark:
        "benchmarks/{run}/annotate_{name}.tsv"
    wildcard_constraints:
        run=RUN_PATTERN,
        name=ANNOTATE_PATTERN,
    conda:
        "../envs/train.yaml"
    threads: 4
    resources:
        gpu=1,
    params:
        format=ANNOTATE["format"],
        min_votes=lambda wildcards: ENSEMBLES.get(wildcards.run, {}).get("min_votes"),
        device=lambda wildcards: run_device(wildcards.run),
        code=script_code("annotate"),
    script:
        "../scripts/annotate.py"


rule annotate_text_check:
    input:
        source=lambda wildcards: ANNOTATE["files"][wildcards.name],
        predictions="results/{run}/annotated/{name}.jsonl",
    output:
        "results/{run}/annotated/{name}.textcheck.json",
    log:
        "logs/{run}/annotate_textcheck_{name}.log",
    benchmark:
        "benchmarks/{run}/annotate_textcheck_{name}.tsv"
    wildcard_constraints:
        run=RUN_PATTERN,
        name=ANNOTATE_PATTERN,
    conda:
        "../envs/core.yaml"
    params:
        max_mismatches=0,
        source_format=ANNOTATE["format"],
        code=script_code("text_check"),
    script:
        "../scripts/text_check.py"
