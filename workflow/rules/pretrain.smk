rule pretrain_tokenizer:
    input:
        train="results/data/train.jsonl",
    output:
        directory("results/pretrain/{name}/tokenizer"),
    log:
        "logs/pretrain/{name}/tokenizer.log",
    benchmark:
        "benchmarks/pretrain/{name}/tokenizer.tsv"
    conda:
        "../envs/train.yaml"
    params:
        encoder="scratch",
        features={},
        code=script_code("tokenizer"),
    script:
        "../scripts/tokenizer.py"


rule pretrain_mlm:
    input:
        # Unlabelled texts of train and test only: never dev.
        texts=[f"results/data/{split}.jsonl" for split in SPLITS if split != "dev"],
        tokenizer="results/pretrain/{name}/tokenizer",
    output:
        model=directory("results/pretrain/{name}/model"),
        log="results/pretrain/{name}/pretrain_log.jsonl",
    log:
        "logs/pretrain/{name}/pretrain.log",
    benchmark:
        "benchmarks/pretrain/{name}/pretrain.tsv"
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        config=lambda wildcards: config["pretraining"][wildcards.name],
        # Outside the outputs: Snakemake deletes those of a killed job, not this.
        checkpoint_dir=lambda wildcards: f"results/pretrain/{wildcards.name}/checkpoints",
        code=script_code("pretrain"),
    script:
        "../scripts/pretrain.py"
