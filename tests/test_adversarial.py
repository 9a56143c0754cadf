"""FGM adversarial training: which tables move, by how much, the restore, the loop's step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import TYPES, tiny_experiment
from torch import nn

from nerflow.models.factory import build_model
from nerflow.text.tagging import label_list
from nerflow.training.adversarial import fgm_perturbation, input_embeddings
from nerflow.training.loop import Loop, LoopSettings


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.chars = nn.Embedding(6, 3, padding_idx=0)
        self.position_embeddings = nn.Embedding(4, 3)
        self.frozen = nn.Embedding(6, 3)
        self.frozen.weight.requires_grad_(False)
        self.out = nn.Linear(3, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = self.position_embeddings(torch.arange(ids.size(1)))
        hidden = torch.tanh(self.chars(ids) + positions + self.frozen(ids))
        return (self.out(hidden) ** 2).sum()


class ToyTask:
    """The least a :class:`nerflow.training.loop.Task` needs for :meth:`Loop.step`."""

    finite_loss_required = True
    ema_shared: tuple[str, ...] = ()
    lengths = [3, 3]

    def __init__(self) -> None:
        self.model = Toy()
        self.ids = torch.tensor([[1, 2, 3], [2, 4, 0]])

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.model.parameters()), "lr": 0.0, "name": "all"}]

    def loss(self, batch: list[int]) -> torch.Tensor:
        return self.model(self.ids[batch])


def test_input_embeddings_are_the_trainable_token_tables(tokenizer) -> None:
    toy = Toy()
    assert [w is toy.chars.weight for w in input_embeddings(toy)] == [True]
    labels = label_list(TYPES, "BIOS")
    bert = build_model(tiny_experiment("crf"), labels, tokenizer)
    found = input_embeddings(bert)
    assert len(found) == 1
    assert found[0] is bert.emitter.model.get_input_embeddings().weight


def test_fgm_moves_along_the_unit_gradient_and_restores_exactly() -> None:
    toy = Toy()
    toy(torch.tensor([[1, 2, 3]])).backward()
    before = toy.chars.weight.detach().clone()
    grad = toy.chars.weight.grad.clone()
    with fgm_perturbation(input_embeddings(toy), 0.5) as moved:
        assert moved == 1
        step = toy.chars.weight.detach() - before
        assert torch.allclose(step, 0.5 * grad / grad.norm(), atol=1e-6)
        assert torch.linalg.vector_norm(step) == pytest.approx(0.5, rel=1e-5)
    assert torch.equal(toy.chars.weight.detach(), before)
    with pytest.raises(RuntimeError, match="boom"), fgm_perturbation([toy.chars.weight], 1.0):
        raise RuntimeError("boom")
    assert torch.equal(toy.chars.weight.detach(), before)
    toy.chars.weight.grad.zero_()  # nothing to follow: nothing moves
    with fgm_perturbation([toy.chars.weight], 1.0) as moved:
        assert moved == 0 and torch.equal(toy.chars.weight.detach(), before)


def test_a_loop_step_follows_the_clean_plus_the_adversarial_gradient(tmp_path: Path) -> None:
    epsilon = 0.7
    task = ToyTask()
    settings = LoopSettings(1, 2, 0, 0.0, 0.0, fgm_epsilon=epsilon)
    loop = Loop(task, settings, torch.device("cpu"), None, tmp_path / "ckpt")  # type: ignore[arg-type]
    start = {name: p.detach().clone() for name, p in task.model.named_parameters()}

    expected_model = Toy()
    expected_model.load_state_dict(task.model.state_dict())
    ids = task.ids
    expected_model(ids).backward()
    clean = {
        name: p.grad.clone() for name, p in expected_model.named_parameters() if p.grad is not None
    }
    with torch.no_grad():
        expected_model.chars.weight.add_(
            epsilon * clean["chars.weight"] / clean["chars.weight"].norm()
        )
    expected_model.zero_grad()
    expected_model(ids).backward()
    expected = {
        name: clean[name] + p.grad for name, p in expected_model.named_parameters() if name in clean
    }

    seen: dict[str, torch.Tensor] = {}
    zero_grad = loop.optimizer.zero_grad

    def capture(set_to_none: bool = True) -> None:
        seen.update(
            {n: p.grad.clone() for n, p in task.model.named_parameters() if p.grad is not None}
        )
        zero_grad(set_to_none=set_to_none)

    loop.optimizer.zero_grad = capture  # type: ignore[method-assign]
    loop.step([0, 1])
    assert (
        set(seen)
        == set(expected)
        == {"chars.weight", "position_embeddings.weight", "out.weight", "out.bias"}
    )
    for name, grad in expected.items():
        assert torch.allclose(seen[name], grad, atol=1e-6), name
    assert not torch.allclose(
        seen["out.weight"], clean["out.weight"]
    )  # the adversarial part counts
    for name, param in task.model.named_parameters():  # lr 0: the perturbation was undone
        assert torch.equal(param.detach(), start[name]), name


def test_fgm_needs_an_embedding_table(tmp_path: Path) -> None:
    task = ToyTask()
    task.model.chars.weight.requires_grad_(False)
    task.model.position_embeddings = None  # type: ignore[assignment]
    settings = LoopSettings(1, 2, 0, 0.0, 0.0, fgm_epsilon=1.0)
    with pytest.raises(ValueError, match="fgm_epsilon"):
        Loop(task, settings, torch.device("cpu"), None, tmp_path / "ckpt")  # type: ignore[arg-type]
