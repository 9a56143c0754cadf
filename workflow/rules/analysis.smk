include: "analysis_common.smk"


# A feature's analysis of a split (LAC's: nerflow.features.lac_analyses), computed once for
# the experiments whose features read it: their train tensor cache and their predictions.
rule analyse:
    input:
        records="results/data/{split}.jsonl",
    output:
        "results/analysis/{analysis}/{split}.pt",
    log:
        "logs/analysis/{analysis}/{split}.log",
    benchmark:
        "benchmarks/analysis/{analysis}/{split}.tsv"
    wildcard_constraints:
        analysis=ANALYSIS_PATTERN,
    conda:
        "../envs/train.yaml"
    threads: 2
    params:
        code=script_code("analyse"),
    script:
        "../scripts/analyse.py"
