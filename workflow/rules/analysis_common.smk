# The analysis files (analysis.smk) that jobs read. Only the jobs of experiments whose
# features use LAC's analysis (lac, lac_scores, lac_hidden) read one.
from nerflow.features.spec import uses_analyser  # noqa: E402


def lac_analysis(split, features):
    """The analysis file of ``split`` when ``features`` use LAC's analysis, else none."""
    return [f"results/analysis/lac/{split}.pt"] if uses_analyser(features) else []


def cache_analysis(wildcards):
    """The analysis of train that a train tensor cache ``{key}`` reads."""
    return lac_analysis("train", CACHES[wildcards.key]["features"])


def predict_analysis(wildcards):
    """The analysis of ``{split}`` that experiment ``{run}``'s predictions read."""
    return lac_analysis(wildcards.split, EXPERIMENTS[wildcards.run]["features"])
