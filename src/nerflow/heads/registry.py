"""The registered heads, by name: a new head is its two files and one entry here."""

from __future__ import annotations

from nerflow.heads.crf import CRFSpec
from nerflow.heads.softmax import SoftmaxSpec
from nerflow.heads.span import SpanSpec
from nerflow.heads.spec import HeadSpec

HEAD_SPECS: dict[str, type[HeadSpec]] = {
    spec.name: spec for spec in (SoftmaxSpec, CRFSpec, SpanSpec)
}
"""Head specs by name (an experiment's ``head``), in the order the docs list them."""
DEFAULT_HEAD = CRFSpec.name
"""An experiment's ``head`` when it names none."""


def head_spec(name: str) -> type[HeadSpec]:
    """The spec of the head ``name`` (``ValueError`` for an unknown one)."""
    if name not in HEAD_SPECS:
        raise ValueError(f"unknown head {name!r}; expected one of {tuple(HEAD_SPECS)}")
    return HEAD_SPECS[name]


def head_setting_names() -> list[str]:
    """Every head's own settings (each declared by one head)."""
    return [name for spec in HEAD_SPECS.values() for name in spec.setting_names()]
