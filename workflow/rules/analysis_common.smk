# The analysis files (analysis.smk) that jobs read: those of the analysis stages that an
# experiment's features declare (LAC's, for lac, lac_scores and lac_hidden), one per split.
from nerflow.features.spec import analyses_used  # noqa: E402


def feature_analyses(split, features):
    """The analysis files of ``split`` that ``features`` read."""
    return [f"results/analysis/{name}/{split}.pt" for name in analyses_used(features)]


def cache_analysis(wildcards):
    """The analyses of train that a train tensor cache ``{key}`` reads."""
    return feature_analyses("train", CACHES[wildcards.key]["features"])


def predict_analysis(wildcards):
    """The analyses of ``{split}`` that experiment ``{run}``'s predictions read."""
    return feature_analyses(wildcards.split, EXPERIMENTS[wildcards.run]["features"])
