"""Tensors a function of the state depends on without being told: closures over parameters.

The hand-written backward passes return gradients only for the parameters they are given;
a tensor requiring grad that func reaches another way (a closure, a global) would silently
get none.  These helpers find such tensors in a value's autograd graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["ClosureFinder", "HiddenParameterError", "check_closures", "hidden_leaves"]


class HiddenParameterError(ValueError):
    """func uses tensors requiring grad that are not among its parameters."""


def hidden_leaves(out: torch.Tensor, known: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Leaf tensors requiring grad that ``out`` depends on but that are not in ``known`` (the
    walk stops at known non-leaf tensors: what they are computed from is theirs)."""
    known_ids = {id(p) for p in known}
    known_fns = {p.grad_fn for p in known if p.grad_fn is not None}
    seen, stack, found = set(), [out.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen or fn in known_fns:
            continue
        seen.add(fn)
        var = getattr(fn, "variable", None)
        if var is not None and id(var) not in known_ids:
            found.append(var)
        stack.extend(f for f, _ in fn.next_functions)
    return found


def check_closures(out: torch.Tensor, params: Sequence[torch.Tensor], at: str = "") -> None:
    """Raise if ``out`` (a value of func) depends on tensors requiring grad that are not in
    ``params``: the hand-written backward would leave their gradients missing."""
    hidden = {id(v): v for v in hidden_leaves(out, params)} if torch.is_tensor(out) else {}
    if hidden:
        shapes = ", ".join(str(tuple(v.shape)) for v in list(hidden.values())[:4])
        raise HiddenParameterError(
            f"func depends on {len(hidden)} tensor(s) requiring grad that are not among its "
            f"parameters (shapes {shapes}{at}); list them in params so that their gradients "
            "are computed. A tensor computed outside func from parameters (non-leaf, e.g. "
            "W = 2 * base) is listed itself (params=[W]), or computed inside func"
        )


class ClosureFinder:
    """``func`` as the hand-written backward sweeps evaluate it (state requiring grad, grad
    mode on), collecting in ``found`` the tensors requiring grad it reaches beyond ``known``;
    returns the value detached.  A forward pass through it sees every evaluation's closures
    and keeps no graph."""

    def __init__(self, func, known: Sequence[torch.Tensor]):
        self.func, self.known, self.found = func, tuple(known), {}

    def __call__(self, t: torch.Tensor, x: torch.Tensor):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            out = self.func(t, x)
        if not torch.is_tensor(out) or not out.requires_grad:
            return out
        self.found.update((id(v), v) for v in hidden_leaves(out, (x, *self.known)))
        return out.detach()
