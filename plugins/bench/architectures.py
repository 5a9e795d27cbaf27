"""``architectures``: the mollifier under other networks than a tanh MLP.

Two of ``sampled``'s DeepXDE-style problems, a 2nd-order one (2D Poisson, 2 000 + 200 sampled
points) and a 4th-order one (the plate, the biharmonic), each with every network of
``networks.NETWORKS`` (FNN, PFNN, ResNet, MsFFN, PirateNet; 3 hidden layers of 64 or their
residual equivalents), trained as ``sampled`` trains (float32, Adam at lr 1e-3, autodiff and
the mollifier at 5% and 2.5% interleaved from the same initial weights); each row carries its
ms/step and L2 error, and both as ratios to autodiff with the same network.
"""

from __future__ import annotations

import dataclasses

import torch

from .networks import NETWORKS, make_network
from .problems.common import deepxde as _dde
from .sampled import SAMPLED, case_rows

__all__ = ["PROBLEMS", "architectures"]

#: the problems (``sampled``'s), one per derivative order
PROBLEMS = ("poisson2d", "plate2d")
WIDTH, DEPTH = 64, 3


def _with_network(case, network: str):
    """The case with its network replaced (its data unchanged)."""

    def data(dde):
        d, net = case.data(dde)
        n_out = 1 if not hasattr(net, "linears") else net.linears[-1].out_features
        return d, make_network(network, case.dim, n_out, WIDTH, DEPTH, dde)

    return dataclasses.replace(case, data=data)


def architectures(quick: bool, device: str, seed: int, networks=None, problems=None) -> list:
    """Rows per problem, network and variant (see the module doc).  Quick: the 2nd-order
    problem only, 2 chunks of 10 steps; full: both, the problem's own steps in 5 chunks."""
    import steadygrad.deepxde as sgd

    dde = _dde()
    dde.config.set_default_float("float32")
    if device.startswith("cuda"):
        torch.set_default_device(device)
    rows = []
    try:
        for name in problems or (PROBLEMS[:1] if quick else PROBLEMS):
            case = SAMPLED[name]
            chunks = (2, 10) if quick else (5, case.steps // 5)
            for network in networks or NETWORKS:
                for row in case_rows(
                    dde, sgd, _with_network(case, network), name, seed, chunks, device
                ):
                    rows.append({**row, "problem": f"architectures:{name}", "network": network})
    finally:
        torch.set_default_device("cpu")
    return rows
