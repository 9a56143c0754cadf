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


# A tokenizer folder shared by the experiments (and the oracle) that agree on what it holds
# (common.smk, TOKENIZERS): settings.json beside it holds the settings of its key.
rule tokenizer:
    input:
        train="results/data/train.jsonl",
        encoder=lambda wildcards: TOKENIZER_FILES[wildcards.key],
    output:
        tokenizer=directory("results/inputs/{key}/tokenizer"),
        settings="results/inputs/{key}/settings.json",
    log:
        "logs/inputs/{key}/tokenizer.log",
    benchmark:
        "benchmarks/inputs/{key}/tokenizer.tsv"
    wildcard_constraints:
        key=TOKENIZER_PATTERN,
    conda:
        "../envs/core.yaml"
    params:
        encoder=lambda wildcards: TOKENIZERS[wildcards.key]["encoder"],
        features=lambda wildcards: TOKENIZERS[wildcards.key]["features"],
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
