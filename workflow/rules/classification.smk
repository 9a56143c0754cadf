# The sentence classification task (config `task: classification`): its rule family and
# its default targets. Its outputs live under results/classification/, apart from NER's.


include: "classification_common.smk"


wildcard_constraints:
    split="|".join(PLAN.splits),
    run=pattern([*PLAN.experiments, *ENSEMBLES]),


rule classify_validate:
    input:
        data=lambda wildcards: PLAN.files()[wildcards.split],
        labels=split_labels,
    output:
        examples=f"{RESULTS}/data/{{split}}.jsonl",
        report=f"{RESULTS}/data/{{split}}.report.json",
        rejected=f"{RESULTS}/data/{{split}}.rejected.jsonl",
    log:
        "logs/classification/validate_{split}.log",
    benchmark:
        "benchmarks/classification/validate_{split}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        labels=CLS.labels,
        file_format=CLS.format,
        text_column=CLS.text_column,
        label_column=CLS.label_column,
        on_invalid=CLS.on_invalid,
        require_labels=lambda wildcards: wildcards.split
        in PLAN.scored_splits + ["train"],
        code=script_code("classification/validate"),
    script:
        "../scripts/classification/validate.py"


rule classify_labels:
    input:
        f"{RESULTS}/data/train.jsonl",
    output:
        f"{RESULTS}/data/labels.json",
    log:
        "logs/classification/labels.log",
    benchmark:
        "benchmarks/classification/labels.tsv"
    conda:
        "../envs/core.yaml"
    params:
        labels=CLS.labels,
        code=script_code("classification/labels"),
    script:
        "../scripts/classification/labels.py"


rule classify_overlap:
    input:
        expand(f"{RESULTS}/data/{{split}}.jsonl", split=PLAN.splits),
    output:
        f"{RESULTS}/data/overlap.json",
    log:
        "logs/classification/overlap.log",
    benchmark:
        "benchmarks/classification/overlap.tsv"
    conda:
        "../envs/core.yaml"
    params:
        splits=PLAN.splits,
        code=script_code("classification/overlap"),
    script:
        "../scripts/classification/overlap.py"


rule classify_train_linear:
    input:
        train=f"{RESULTS}/data/train.jsonl",
        dev=f"{RESULTS}/data/dev.jsonl",
        labels=f"{RESULTS}/data/labels.json",
    output:
        model=directory(f"{RESULTS}/{{run}}/trained/model"),
        summary=f"{RESULTS}/{{run}}/train_summary.json",
    log:
        "logs/classification/{run}/train.log",
    benchmark:
        "benchmarks/classification/{run}/train.tsv"
    wildcard_constraints:
        run=pattern(LINEAR),
    conda:
        "../envs/train.yaml"
    threads: 1
    params:
        experiment=lambda wildcards: config["classification"]["experiments"][
            wildcards.run
        ],
        code=script_code("classification/train_linear"),
    script:
        "../scripts/classification/train_linear.py"


rule classify_train_neural:
    input:
        train=f"{RESULTS}/data/train.jsonl",
        dev=f"{RESULTS}/data/dev.jsonl",
        labels=f"{RESULTS}/data/labels.json",
    output:
        model=directory(f"{RESULTS}/{{run}}/trained/model"),
        summary=f"{RESULTS}/{{run}}/train_summary.json",
        log=f"{RESULTS}/{{run}}/train_log.jsonl",
    log:
        "logs/classification/{run}/train.log",
    benchmark:
        "benchmarks/classification/{run}/train.tsv"
    wildcard_constraints:
        run=pattern(NEURAL),
    conda:
        "../envs/train.yaml"
    threads: 8
    resources:
        gpu=1,
    params:
        experiment=lambda wildcards: config["classification"]["experiments"][
            wildcards.run
        ],
        checkpoint_dir=lambda wildcards: f"{RESULTS}/{wildcards.run}/checkpoints",
        code=script_code("classification/train_neural"),
    script:
        "../scripts/classification/train_neural.py"


rule classify_predict:
    input:
        model=f"{RESULTS}/{{run}}/trained/model",
        examples=f"{RESULTS}/data/{{split}}.jsonl",
    output:
        f"{RESULTS}/{{run}}/predictions/{{split}}.jsonl",
    log:
        "logs/classification/{run}/predict_{split}.log",
    benchmark:
        "benchmarks/classification/{run}/predict_{split}.tsv"
    wildcard_constraints:
        run=pattern(PLAN.experiments),
    conda:
        "../envs/train.yaml"
    threads: 4
    params:
        device=lambda wildcards: (
            config["classification"]["experiments"][wildcards.run]
            .get("train", {})
            .get("device", "cpu")
        ),
        code=script_code("classification/predict"),
    script:
        "../scripts/classification/predict.py"


rule classify_ensemble:
    input:
        lambda wildcards: expand(
            f"{RESULTS}/{{member}}/predictions/{wildcards.split}.jsonl",
            member=PLAN.members(wildcards.run),
        ),
    output:
        f"{RESULTS}/{{run}}/predictions/{{split}}.jsonl",
    log:
        "logs/classification/{run}/ensemble_{split}.log",
    benchmark:
        "benchmarks/classification/{run}/ensemble_{split}.tsv"
    wildcard_constraints:
        run=pattern(ENSEMBLES),
    conda:
        "../envs/core.yaml"
    params:
        code=script_code("classification/ensemble"),
    script:
        "../scripts/classification/ensemble.py"


rule classify_score:
    input:
        gold=f"{RESULTS}/data/{{split}}.jsonl",
        train=f"{RESULTS}/data/train.jsonl",
        predictions=f"{RESULTS}/{{run}}/predictions/{{split}}.jsonl",
        labels=f"{RESULTS}/data/labels.json",
    output:
        scores=f"{RESULTS}/{{run}}/{{split}}_scores.json",
        errors=f"{RESULTS}/{{run}}/{{split}}_errors.jsonl",
    log:
        "logs/classification/{run}/score_{split}.log",
    benchmark:
        "benchmarks/classification/{run}/score_{split}.tsv"
    conda:
        "../envs/core.yaml"
    params:
        code=script_code("classification/score"),
    script:
        "../scripts/classification/score.py"


rule classify_leaderboard:
    input:
        scores=expand(
            f"{RESULTS}/{{run}}/{{split}}_scores.json",
            run=PLAN.runs,
            split=PLAN.scored_splits,
        ),
        summaries=expand(
            f"{RESULTS}/{{run}}/train_summary.json",
            run=[run for run in PLAN.runs if run not in ENSEMBLES],
        ),
    output:
        table=f"{RESULTS}/leaderboard.tsv",
        json=f"{RESULTS}/dev_scores.json",
        html=report(
            f"{RESULTS}/leaderboard.html",
            caption="../report/classification_leaderboard.rst",
            category="Classification",
            labels={"figure": "leaderboard"},
        ),
    log:
        "logs/classification/leaderboard.log",
    benchmark:
        "benchmarks/classification/leaderboard.tsv"
    conda:
        "../envs/core.yaml"
    params:
        runs=PLAN.runs,
        splits=PLAN.scored_splits,
        kinds={name: PLAN.kind(name) for name in PLAN.runs},
        members={name: PLAN.members(name) for name in PLAN.runs},
        code=script_code("classification/leaderboard"),
    script:
        "../scripts/classification/leaderboard.py"


rule classify_model_card:
    input:
        trained=f"{RESULTS}/{{run}}/trained/model",
        scores=expand(
            f"{RESULTS}/{{{{run}}}}/{{split}}_scores.json", split=PLAN.scored_splits
        ),
        data=list(PLAN.files().values()),
        reports=expand(f"{RESULTS}/data/{{split}}.report.json", split=PLAN.splits),
    output:
        # The card, written last into the released folder: declared instead of the folder,
        # which therefore carries no Snakemake timestamp file.
        f"{RESULTS}/{{run}}/model/README.md",
    log:
        "logs/classification/{run}/model_card.log",
    benchmark:
        "benchmarks/classification/{run}/model_card.tsv"
    wildcard_constraints:
        run=pattern(PLAN.experiments),
    conda:
        "../envs/core.yaml"
    params:
        splits=PLAN.splits,
        scored=PLAN.scored_splits,
        dataset=PLAN.dataset,
        code=script_code("classification/model_card"),
    script:
        "../scripts/classification/model_card.py"


rule classify_report:
    input:
        scores=f"{RESULTS}/{{run}}/dev_scores.json",
        errors=f"{RESULTS}/{{run}}/dev_errors.jsonl",
    output:
        f1=report(
            f"{RESULTS}/{{run}}/plots/per_class_f1.svg",
            caption="../report/classification_per_class.rst",
            category="Classification",
            subcategory="{run}",
            labels={"figure": "F1 per class"},
        ),
        confusion=report(
            f"{RESULTS}/{{run}}/plots/confusion.svg",
            caption="../report/classification_confusion.rst",
            category="Classification",
            subcategory="{run}",
            labels={"figure": "class confusion"},
        ),
        errors=report(
            f"{RESULTS}/{{run}}/plots/errors.html",
            caption="../report/classification_errors.rst",
            category="Classification",
            subcategory="{run}",
            labels={"figure": "confident errors"},
        ),
    log:
        "logs/classification/{run}/report.log",
    benchmark:
        "benchmarks/classification/{run}/report.tsv"
    conda:
        "../envs/report.yaml"
    params:
        code=script_code("classification/report"),
    script:
        "../scripts/classification/report.py"


rule classify_annotate:
    input:
        models=lambda wildcards: expand(
            f"{RESULTS}/{{member}}/trained/model", member=PLAN.members(wildcards.run)
        ),
        source=lambda wildcards: ANNOTATE_FILES[wildcards.name],
    output:
        f"{RESULTS}/{{run}}/annotated/{{name}}.jsonl",
    log:
        "logs/classification/{run}/annotate_{name}.log",
    benchmark:
        "benchmarks/classification/{run}/annotate_{name}.tsv"
    wildcard_constraints:
        name=pattern(ANNOTATE_FILES),
    conda:
        "../envs/train.yaml"
    threads: 4
    params:
        format=CLS.annotate.get("format", "auto"),
        code=script_code("classification/annotate"),
    script:
        "../scripts/classification/annotate.py"
