"""nerflow: the domain logic behind the CLUENER-style NER Snakemake workflow.

Pure, typed functions: validation, tagging, offset alignment and restore, scoring,
models and training. The Snakemake scripts under ``workflow/scripts`` are thin adapters.
"""

import os

__version__ = "0.1.0"

REPRODUCIBLE_THREADING = {"MKL_DYNAMIC": "FALSE", "OMP_DYNAMIC": "FALSE", "MKL_CBWR": "AUTO,STRICT"}
"""Environment defaults under which a CPU run repeats bit for bit. With MKL's default
dynamic threading, MKL may use fewer threads than asked, and so sum in another order, when
the machine is busy (Intel's "reproducibility conditions"); strict CNR keeps its GEMMs bitwise
reproducible. MKL reads them at its first call, so setting them on import of the package (the
Snakefile, every workflow script and the CLI import it before any matrix product) is in
time. Measured at no cost in speed. A value the user set wins."""

QUIET_LIBRARIES = {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}
"""No third-party progress bars (transformers' "Loading weights" reads this too): they turn
log files into carriage-return fragments and reach the command line's stderr. A value the
user set wins."""

for _name, _value in {**REPRODUCIBLE_THREADING, **QUIET_LIBRARIES}.items():
    os.environ.setdefault(_name, _value)
