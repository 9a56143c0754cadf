rule char_tags:
    input:
        "results/data/{split}.jsonl",
    output:
        "results/tags/{split}.{scheme}.tsv",
    log:
        "logs/tags/{split}.{scheme}.log",
    benchmark:
        "benchmarks/tags/{split}.{scheme}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        code=script_code("char_tags"),
    script:
        "../scripts/char_tags.py"


rule tokenizer:
    input:
        train="results/data/train.jsonl",
        encoder=encoder_input,
    output:
        directory("results/{run}/tokenizer"),
    log:
        "logs/{run}/tokenizer.log",
    benchmark:
        "benchmarks/{run}/tokenizer.tsv"
    conda:
        "../envs/core.yaml"
    params:
        encoder=encoder_source,
        features=lambda wildcards: EXPERIMENTS.get(wildcards.run, {}).get(
            "features", {}
        ),
        code=script_code("tokenizer"),
    script:
        "../scripts/tokenizer.py"


rule roundtrip:
    input:
        records="results/data/{split}.jsonl",
        labels="results/data/labels.json",
        tokenizer=checks_tokenizer(),
    output:
        "results/roundtrip/{split}.{mode}.json",
    log:
        "logs/roundtrip/{split}.{mode}.log",
    benchmark:
        "benchmarks/roundtrip/{split}.{mode}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        scheme=SCHEME,
        max_len=CHECKS["max_len"],
        stride=CHECKS["stride"],
        truncate=CHECKS["truncate"],
        code=script_code("roundtrip"),
    script:
        "../scripts/roundtrip.py"
