"""Forward integration of an explicit linear multistep method on a uniform grid.

x_1 .. x_{k-1} come from a one-step starter; then, for m = 0 .. N - k,

    x_{m+k} = -sum_{j<k} alpha_j x_{m+j} + h sum_{j<k} beta_j f(t_{m+j}, x_{m+j}).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .methods import LinearMultistep

__all__ = ["Func", "check_state", "integrate", "one_step", "start_steps", "states"]

Func = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def one_step(func: Func, t: torch.Tensor, x: torch.Tensor, h: float, start: str) -> torch.Tensor:
    """One step of the starter: 'euler', 'rk2' (Heun) or 'rk4'."""
    if start == "euler":
        return x + h * func(t, x)
    if start == "rk2":
        k1 = func(t, x)
        k2 = func(t + h, x + h * k1)
        return x + 0.5 * h * (k1 + k2)
    k1 = func(t, x)
    k2 = func(t + 0.5 * h, x + 0.5 * h * k1)
    k3 = func(t + 0.5 * h, x + 0.5 * h * k2)
    k4 = func(t + h, x + h * k3)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def start_steps(
    func: Func, y0: torch.Tensor, times: torch.Tensor, h: float, method: LinearMultistep, start: str
) -> list[torch.Tensor]:
    """x_1 .. x_{k-1} (fewer if the grid is shorter); differentiable if grad is enabled."""
    xs, x = [], y0
    for n in range(min(method.k - 1, len(times) - 1)):
        x = one_step(func, times[n], x, h, start)
        xs.append(x)
    return xs


def check_state(value, like: torch.Tensor, what: str = "func") -> torch.Tensor:
    """Raise a clear error unless ``value`` is a tensor shaped like the state."""
    if not torch.is_tensor(value) or value.shape != like.shape:
        got = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
        raise ValueError(
            f"{what} must return a tensor shaped like y0 {tuple(like.shape)}, got {got}"
        )
    return value


def states(func: Func, y0: torch.Tensor, times: torch.Tensor, method: LinearMultistep, start: str):
    """Yield (n, x_n) for n = 0 .. N, keeping only the k states the recursion needs."""
    N, k = len(times) - 1, method.k
    yield 0, y0
    if N == 0:
        return
    h = float(times[1] - times[0])
    check_state(func(times[0], y0), y0)
    window = {0: y0}
    for n, x in enumerate(start_steps(func, y0, times, h, method, start), start=1):
        window[n] = x
        yield n, x
    used = [
        any(b != 0 and 0 <= n - j <= N - k for j, b in enumerate(method.beta)) for n in range(N)
    ]
    F: dict[int, torch.Tensor] = {}
    for m in range(N - k + 1):
        for n in range(m, m + k):
            if n not in F and used[n]:
                F[n] = func(times[n], window[n])
        x = -sum(a * window[m + j] for j, a in enumerate(method.alpha[:-1]) if a != 0)
        x = x + h * sum(b * F[m + j] for j, b in enumerate(method.beta) if b != 0)
        window[m + k] = x
        F.pop(m, None)
        window.pop(m, None)
        yield m + k, x


def _check_finite(rows: torch.Tensor, nodes: list, times: torch.Tensor, name: str) -> None:
    # a row sum is non-finite iff the row has NaN/Inf (or overflows): O(rows) extra memory
    suspect = (~torch.isfinite(rows.reshape(len(rows), -1).sum(dim=1))).nonzero().flatten().tolist()
    bad = [nodes[i] for i in suspect if not bool(torch.isfinite(rows[i]).all())]
    if bad:
        raise FloatingPointError(
            f"{name}: the solution became non-finite (NaN/Inf) at step {bad[0]} "
            f"(t = {float(times[bad[0]]):.6g}); reduce the step size or check func"
        )


def integrate(
    func: Func,
    y0: torch.Tensor,
    times: torch.Tensor,
    method: LinearMultistep,
    start: str,
    keep: set | None = None,
) -> torch.Tensor:
    """States on ``times``, shape (N+1, *y0.shape), or only the nodes in ``keep`` (sorted).

    Raises ``FloatingPointError`` on NaN/Inf (checked on the kept nodes and the last one).
    """
    N = len(times) - 1
    nodes = list(range(N + 1)) if keep is None else sorted(set(keep) | {N})
    rows = y0.new_empty((len(nodes), *y0.shape))
    slot = {n: i for i, n in enumerate(nodes)}
    for n, x in states(func, y0, times, method, start):
        if n in slot:
            rows[slot[n]] = x
    _check_finite(rows, nodes, times, method.name)
    return rows if keep is None else rows[[slot[n] for n in sorted(keep)]]
