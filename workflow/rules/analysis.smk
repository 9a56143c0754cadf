include: "analysis_common.smk"


# LAC's analysis of a split (nerflow.features.lac_analyser), computed once for the experiments whose
# features ask for it: their train tensor cache and their predictions read it.
rule analyse:
    input:
        records="results/data/{split}.jsonl",
    output:
        "results/analysis/lac/{split}.pt",
    log:
        "logs/analysis/lac/{split}.log",
    benchmark:
        "benchmarks/analysis/lac/{split}.tsv"
    conda:
        "../envs/train.yaml"
    threads: 2
    params:
        code=script_code("analyse"),
    script:
        "../scripts/analyse.py"
