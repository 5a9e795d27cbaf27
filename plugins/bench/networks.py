"""Networks beyond DeepXDE's FNN for the ``architectures`` benchmark, as DeepXDE networks
(``dde.nn.NN`` subclasses: feature and output transforms apply as for FNN).

DeepXDE's PyTorch backend has FNN and PFNN; its ResNet and MsFFN exist for TensorFlow only, so
they are written here from their definitions:

* ``ResNet``: a dense input layer, residual blocks x + W2 s(W1 x), a dense output layer (He et
  al. 2016, as DeepXDE's TensorFlow ``ResNet``).
* ``MsFFN``: multi-scale Fourier features (Wang, Wang & Perdikaris 2021): for each scale sigma
  a fixed Gaussian matrix B ~ N(0, sigma^2) maps x to [cos 2 pi B x, sin 2 pi B x], one shared
  tanh network reads each, and a linear layer reads their concatenation.
* ``PirateNet``: random Fourier features, then residual gated blocks (Wang, Li, Chen &
  Perdikaris 2024): U, V = s(W_u phi), s(W_v phi); each block f = s(W1 x), z1 = f U + (1 - f) V,
  g = s(W2 z1), z2 = g U + (1 - g) V, h = s(W3 z2), x <- a h + (1 - a) x with a trainable
  a (0 at the start: the network begins as a linear map of its features).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["NETWORKS", "make_network"]


def _base():
    import os

    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    return dde.nn.NN


def _dtype() -> torch.dtype:
    """DeepXDE's float type (``dde.config.set_default_float``), as its own networks use."""
    import deepxde as dde

    return dde.config.real(torch)


def _linear(n_in: int, n_out: int) -> nn.Linear:
    layer = nn.Linear(n_in, n_out, dtype=_dtype())
    nn.init.xavier_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _fourier(n_in: int, features: int, sigma: float, generator) -> torch.Tensor:
    B = torch.randn(n_in, features, generator=generator, dtype=torch.float64) * sigma
    return B.to(_dtype())


class _Transforms:
    """DeepXDE's feature and output transforms around ``_body``."""

    def forward(self, inputs):
        x = inputs if self._input_transform is None else self._input_transform(inputs)
        y = self._body(x)
        return y if self._output_transform is None else self._output_transform(inputs, y)


def resnet(n_in: int, n_out: int, width: int, blocks: int):
    class ResNet(_Transforms, _base()):
        def __init__(self):
            super().__init__()
            self.inp, self.out = _linear(n_in, width), _linear(width, n_out)
            self.blocks = nn.ModuleList(
                nn.ModuleList([_linear(width, width), _linear(width, width)]) for _ in range(blocks)
            )

        def _body(self, x):
            x = torch.tanh(self.inp(x))
            for w1, w2 in self.blocks:
                x = torch.tanh(x + w2(torch.tanh(w1(x))))
            return self.out(x)

    return ResNet()


def msffn(n_in: int, n_out: int, width: int, depth: int, sigmas=(1.0, 10.0), seed: int = 0):
    class MsFFN(_Transforms, _base()):
        def __init__(self):
            super().__init__()
            gen = torch.Generator().manual_seed(seed)
            for k, s in enumerate(sigmas):
                self.register_buffer(f"B{k}", _fourier(n_in, width // 2, s, gen))
            self.hidden = nn.ModuleList(_linear(width, width) for _ in range(depth))
            self.out = _linear(width * len(sigmas), n_out)

        def _body(self, x):
            parts = []
            for k in range(len(sigmas)):
                z = 2 * math.pi * x @ getattr(self, f"B{k}")
                h = torch.cat([torch.cos(z), torch.sin(z)], 1)
                for layer in self.hidden:
                    h = torch.tanh(layer(h))
                parts.append(h)
            return self.out(torch.cat(parts, 1))

    return MsFFN()


def piratenet(n_in: int, n_out: int, width: int, blocks: int, sigma: float = 1.0, seed: int = 0):
    class PirateNet(_Transforms, _base()):
        def __init__(self):
            super().__init__()
            gen = torch.Generator().manual_seed(seed)
            self.register_buffer("B", _fourier(n_in, width // 2, sigma, gen))
            self.u, self.v = _linear(width, width), _linear(width, width)
            self.blocks = nn.ModuleList(
                nn.ModuleList(_linear(width, width) for _ in range(3)) for _ in range(blocks)
            )
            self.alpha = nn.Parameter(torch.zeros(blocks, dtype=_dtype()))
            self.out = _linear(width, n_out)

        def _body(self, x):
            z = 2 * math.pi * x @ self.B
            x = torch.cat([torch.cos(z), torch.sin(z)], 1)
            U, V = torch.tanh(self.u(x)), torch.tanh(self.v(x))
            for a, (w1, w2, w3) in zip(self.alpha, self.blocks):
                f = torch.tanh(w1(x))
                g = torch.tanh(w2(f * U + (1 - f) * V))
                h = torch.tanh(w3(g * U + (1 - g) * V))
                x = a * h + (1 - a) * x
            return self.out(x)

    return PirateNet()


def _fnn(n_in, n_out, width, depth, dde):
    return dde.nn.FNN([n_in, *[width] * depth, n_out], "tanh", "Glorot normal")


def _pfnn(n_in, n_out, width, depth, dde):
    return dde.nn.PFNN([n_in, *[[width] * n_out] * depth, n_out], "tanh", "Glorot normal")


#: name -> builder(n_in, n_out, width, depth, dde); all tanh, Glorot-normal weights
NETWORKS = {
    "FNN": _fnn,
    "PFNN": _pfnn,
    "ResNet": lambda i, o, w, d, dde: resnet(i, o, w, max(1, d // 2)),
    "MsFFN": lambda i, o, w, d, dde: msffn(i, o, w, d),
    "PirateNet": lambda i, o, w, d, dde: piratenet(i, o, w, max(1, d // 2)),
}


def make_network(name: str, n_in: int, n_out: int, width: int, depth: int, dde):
    """The network ``name`` (a key of :data:`NETWORKS`) with ``depth`` hidden layers of
    ``width`` units (residual networks: depth // 2 blocks of two or three layers)."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose from {list(NETWORKS)}")
    return NETWORKS[name](n_in, n_out, width, depth, dde)
