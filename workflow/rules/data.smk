rule download:
    output:
        DOWNLOAD_TARGETS,
    log:
        "logs/download.log",
    benchmark:
        "benchmarks/download.tsv"
    conda:
        "../envs/core.yaml"
    params:
        url=config["download"].get("url", ""),
        sha256=config["download"].get("sha256", {}),
        code=script_code("download"),
    script:
        "../scripts/download.py"


rule validate_split:
    input:
        data=raw_data,
        labels=validation_labels,
    output:
        records="results/data/{split}.jsonl",
        report="results/data/{split}.report.json",
        rejected="results/data/{split}.rejected.jsonl",
    log:
        "logs/validate/{split}.log",
    benchmark:
        "benchmarks/validate/{split}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        labels=config["labels"],
        on_invalid=config["validation"]["on_invalid"],
        overlap_policy=config["validation"]["overlap_policy"],
        require_labels=lambda wildcards: wildcards.split in LABELLED_SPLITS,
        code=script_code("validate"),
    script:
        "../scripts/validate.py"


rule label_set:
    input:
        "results/data/train.jsonl",
    output:
        "results/data/labels.json",
    log:
        "logs/label_set.log",
    benchmark:
        "benchmarks/label_set.tsv"
    conda:
        "../envs/core.yaml"
    params:
        labels=config["labels"],
        code=script_code("label_set"),
    script:
        "../scripts/label_set.py"
