"""LAC's encoder as a trainable torch module (``features.lac_encoder``).

``features.lac_hidden`` reads the output of LAC's last GRU layer from the ``analyse``
stage, frozen. :class:`LacEncoder` is the same network in torch: LAC's character vectors
(a frozen buffer), then two bidirectional GRU layers of 128 per direction, which start from
the packaged weights (:meth:`LacEncoder.start_from_packaged`) and are fine-tuned with the
tagger, at their own learning rate (``features.lac_encoder_lr``). It reads LAC's token id of
each character plus one (``lac_tokens``; 0 is padding or a special token) and runs over
the real characters of each row only, left-aligned, so that before training its output on
a whole text is LAC's own (``tests/test_lac_encoder.py`` checks it against onnxruntime).

The ONNX graph holds its GRUs as ONNX ``GRU`` nodes with ``linear_before_reset``, the
cell of ``torch.nn.GRU``; only the gate order differs (ONNX z, r, h; torch r, z, n).
"""

from __future__ import annotations

import torch
from torch import nn

from nerflow.features.lac_analyser import (
    EMBEDDING_INITIALIZER,
    N_EMBEDDING,
    N_HIDDEN,
    N_VOCAB,
    encoder_initializers,
)
from nerflow.nn.positions import left_align
from nerflow.nn.rnn import bidirectional

GRU_LAYERS = (
    ("helper.concat.5", "helper.concat.6", "helper.concat.9"),
    ("helper.concat.14", "helper.concat.15", "helper.concat.18"),
)
"""Per GRU layer of the packaged encoder: its initializers W, R and B (ONNX GRU inputs)."""
ONNX_TO_TORCH_GATES = (1, 0, 2)
"""ONNX gate blocks (z, r, h) in torch's order (r, z, n)."""


def gate_reordered(block: torch.Tensor) -> torch.Tensor:
    """A ``[3 * hidden, ...]`` ONNX GRU block with its gates in torch's order."""
    gates = block.chunk(3, dim=0)
    return torch.cat([gates[i] for i in ONNX_TO_TORCH_GATES], dim=0)


class LacEncoder(nn.Module):
    """LAC's character vectors and bidirectional GRUs: ``lac_tokens [batch, seq]`` ->
    ``[batch, seq, N_HIDDEN]`` (zeros at padding and special tokens)."""

    def __init__(self, hidden: int = N_HIDDEN // 2, layers: int = len(GRU_LAYERS)) -> None:
        super().__init__()
        self.register_buffer("vectors", torch.zeros(N_VOCAB + 1, N_EMBEDDING))
        sizes = [N_EMBEDDING] + [2 * hidden] * (layers - 1)
        self.forward_grus = nn.ModuleList(nn.GRU(n, hidden, batch_first=True) for n in sizes)
        self.backward_grus = nn.ModuleList(nn.GRU(n, hidden, batch_first=True) for n in sizes)

    def forward(self, lac_tokens: torch.Tensor) -> torch.Tensor:
        real = lac_tokens != 0
        index, mask = left_align(real)
        x = nn.functional.embedding(lac_tokens.gather(1, index), self.vectors)
        lengths = mask.sum(dim=1)
        for forward_gru, backward_gru in zip(self.forward_grus, self.backward_grus, strict=True):
            x = bidirectional(x, lengths, forward_gru, backward_gru)
        out = x.new_zeros((*lac_tokens.shape, x.size(-1)))
        return out.scatter(1, index[:, :, None].expand_as(x), x * mask[..., None].to(x.dtype))

    @torch.no_grad()
    def start_from_packaged(self) -> None:
        """Copy the packaged encoder's character vectors and GRU weights in (row 0 of the
        vectors, padding, stays zero)."""
        names = [EMBEDDING_INITIALIZER, *(name for layer in GRU_LAYERS for name in layer)]
        arrays = {name: torch.from_numpy(array) for name, array in encoder_initializers(names)}
        self.vectors[1:] = arrays[EMBEDDING_INITIALIZER]
        for layer, (w, r, b) in enumerate(GRU_LAYERS):
            for direction, gru in enumerate((self.forward_grus[layer], self.backward_grus[layer])):
                ih_bias, hh_bias = arrays[b][direction].chunk(2)
                gru.weight_ih_l0.copy_(gate_reordered(arrays[w][direction]))
                gru.weight_hh_l0.copy_(gate_reordered(arrays[r][direction]))
                gru.bias_ih_l0.copy_(gate_reordered(ih_bias))
                gru.bias_hh_l0.copy_(gate_reordered(hh_bias))
