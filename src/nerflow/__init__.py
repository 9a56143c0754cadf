"""nerflow: the domain logic behind the CLUENER-style NER Snakemake workflow.

Pure, typed functions: validation, tagging, offset alignment and restore, scoring,
models and training. The Snakemake scripts under ``workflow/scripts`` are thin adapters.
"""

__version__ = "0.1.0"
