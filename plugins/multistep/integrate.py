"""Forward integration of an explicit linear multistep method on a uniform grid.

x_1 .. x_{k-1} come from a one-step starter; then, for m = 0 .. N - k,

    x_{m+k} = -sum_{j<k} alpha_j x_{m+j} + h sum_{j<k} beta_j f(t_{m+j}, x_{m+j}).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .methods import LinearMultistep
from .stability import StabilityMonitor

__all__ = [
    "lincomb",
    "Checkpointed",
    "Func",
    "check_finite",
    "check_state",
    "integrate",
    "one_step",
    "start_steps",
    "states",
    "StepCallback",
]

Func = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def one_step(func: Func, t: torch.Tensor, x: torch.Tensor, h: float, start: str) -> torch.Tensor:
    """One step of the starter: 'euler', 'rk2' (Heun) or 'rk4'."""
    if start == "euler":
        return x + h * func(t, x)
    if start == "rk2":
        k1 = func(t, x)
        k2 = func(t + h, x + h * k1)
        return x + 0.5 * h * (k1 + k2)
    if start != "rk4":
        raise ValueError(f"start must be one of 'euler', 'rk2', 'rk4', got {start!r}")
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


def lincomb(pairs) -> torch.Tensor:
    """sum c * x over (c, x) pairs with nonzero c, one tensor op per term (fused multiply-add)."""
    pairs = [(c, x) for c, x in pairs if c != 0]
    c0, out = pairs[0]
    out = out if c0 == 1 else c0 * out
    for c, x in pairs[1:]:
        out = torch.add(out, x, alpha=c)
    return out


def _recursion(
    func: Func, window: dict, times: torch.Tensor, method: LinearMultistep, m0: int, m1: int
):
    """Yield (m + k, x_{m+k}) for m = m0 .. m1 - 1, given ``window`` = {n: x_n} for n = m0 .. m0+k-1
    (consumed: only the k states the recursion needs are kept)."""
    N, k = len(times) - 1, method.k
    h = float((times[1] - times[0]).detach())
    used = {n for m in range(m0, m1) for j, b in enumerate(method.beta) if b != 0 for n in [m + j]}
    F: dict[int, torch.Tensor] = {}
    for m in range(m0, min(m1, N - k + 1)):
        for n in range(m, m + k):
            if n not in F and n in used:
                F[n] = func(times[n], window[n])
        x = lincomb(
            [(-a, window[m + j]) for j, a in enumerate(method.alpha[:-1]) if a != 0]
            + [(h * b, F[m + j]) for j, b in enumerate(method.beta) if b != 0]
        )
        window[m + k] = x
        F.pop(m, None)
        window.pop(m, None)
        yield m + k, x


#: called as on_step(t_n, x_n, h) once per step, before the step from t_n is taken
StepCallback = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


def states(
    func: Func,
    y0: torch.Tensor,
    times: torch.Tensor,
    method: LinearMultistep,
    start: str,
    on_step: StepCallback | None = None,
):
    """Yield (n, x_n) for n = 0 .. N, keeping only the k states the recursion needs; with
    ``on_step``, call it once per step (N times) as the solve reaches each node.  Weakly
    stable methods are watched for their parasitic mode (``stability.py``)."""
    N = len(times) - 1
    monitor = StabilityMonitor.watch(method, N)
    for n, x in _states(func, y0, times, method, start):
        if monitor is not None:
            monitor.see(x)
        yield n, x
        if on_step is not None and n < N:
            on_step(times[n], x, times[n + 1] - times[n])
    if monitor is not None:
        h = float((times[1] - times[0]).detach())
        monitor.report(h, float(times[0].detach()), float(times[-1].detach()))


def _states(func: Func, y0: torch.Tensor, times: torch.Tensor, method: LinearMultistep, start):
    N = len(times) - 1
    yield 0, y0
    if N == 0:
        return
    h = float((times[1] - times[0]).detach())
    check_state(func(times[0], y0), y0)
    window = {0: y0}
    for n, x in enumerate(start_steps(func, y0, times, h, method, start), start=1):
        window[n] = x
        yield n, x
    yield from _recursion(func, window, times, method, 0, N)


class Checkpointed:
    """The nodes of a solve, stored only at checkpoints: the k consecutive states that start
    each segment of ``every`` nodes.  Reading node n recomputes its segment (no autograd
    graph) and keeps that one segment, so memory is O(N / every * k + every) states instead of
    O(N); ``every`` = sqrt(N) gives O(sqrt(N)) at the price of one more forward pass per sweep.

    The values at ``keep`` nodes (the outputs) are recorded during the first pass.
    """

    def __init__(
        self,
        func: Func,
        y0: torch.Tensor,
        times: torch.Tensor,
        method: LinearMultistep,
        start: str,
        every: int,
        keep: set = frozenset(),
        on_step: StepCallback | None = None,
    ):
        self.func, self.times, self.method = func, times, method
        self.N, k = len(times) - 1, method.k
        self.every = max(int(every), k)
        self.checkpoints: dict[int, dict] = {}
        self.kept: dict[int, torch.Tensor] = {}
        last = y0
        for n, x in states(func, y0, times, method, start, on_step):
            s = n - n % self.every
            if n - s < k:
                self.checkpoints.setdefault(s, {})[n] = x
            if n in keep:
                self.kept[n] = x
            last = x
        check_finite(torch.stack([*self.kept.values(), last]), [*self.kept, self.N], times, method)
        self._segment: tuple[int, dict] = (-1, {})

    def __len__(self) -> int:
        return self.N + 1

    def __getitem__(self, n: int) -> torch.Tensor:
        s = n - n % self.every
        if self._segment[0] != s:
            window = dict(self.checkpoints[s])
            segment = dict(window)
            top = min(s + self.every, self.N + 1)
            segment.update(
                _recursion(self.func, window, self.times, self.method, s, top - self.method.k)
            )
            self._segment = (s, segment)
        return self._segment[1][n]


def check_finite(
    rows: torch.Tensor, nodes: list, times: torch.Tensor, method: LinearMultistep
) -> None:
    """Raise ``FloatingPointError`` naming the first node of ``rows`` with NaN/Inf."""
    # a row sum is non-finite iff the row has NaN/Inf (or overflows): O(rows) extra memory
    suspect = (~torch.isfinite(rows.reshape(len(rows), -1).sum(dim=1))).nonzero().flatten().tolist()
    bad = [nodes[i] for i in suspect if not bool(torch.isfinite(rows[i]).all())]
    if not bad:
        return
    advice = "reduce the step size or check func"
    if method.weakly_stable:
        # the parasitic root's modulus is exp(h |Re lambda|) per step: exp(|Re lambda| T) over
        # the interval whatever h, so a smaller step does not cure a long damped solve
        advice = (
            f"{method.name} is only weakly stable: its parasitic mode grows like "
            "exp(|Re lambda| t) on damped dynamics whatever the step size, so a smaller step "
            "may overflow too; use method='ab3' or 'ab4' (strongly stable), or check func"
        )
    raise FloatingPointError(
        f"{method.name}: the solution became non-finite (NaN/Inf) at step {bad[0]} "
        f"(t = {float(times[bad[0]]):.6g}); {advice}"
    )


def integrate(
    func: Func,
    y0: torch.Tensor,
    times: torch.Tensor,
    method: LinearMultistep,
    start: str,
    keep: set | None = None,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """States on ``times``, shape (N+1, *y0.shape), or only the nodes in ``keep`` (sorted).

    Raises ``FloatingPointError`` on NaN/Inf (checked on the kept nodes and the last one).
    """
    N = len(times) - 1
    nodes = list(range(N + 1)) if keep is None else sorted(set(keep) | {N})
    rows = y0.new_empty((len(nodes), *y0.shape))
    slot = {n: i for i, n in enumerate(nodes)}
    for n, x in states(func, y0, times, method, start, on_step):
        if n in slot:
            rows[slot[n]] = x
    check_finite(rows, nodes, times, method)
    return rows if keep is None else rows[[slot[n] for n in sorted(keep)]]


def integrate_until(
    func: Func,
    y0: torch.Tensor,
    t0: torch.Tensor,
    h: float,
    method: LinearMultistep,
    start: str,
    crossed,
    max_steps: int = 20000,
    on_step: StepCallback | None = None,
):
    """Step from (t0, y0) until ``crossed(t, x)`` is true; returns ((t_prev, x_prev), (t, x)).

    Differentiable when grad is enabled (plain autograd through the steps: the exact discrete
    gradient).  Raises ``RuntimeError`` after ``max_steps`` steps without a crossing.
    """
    times = t0 + h * torch.arange(max_steps + 1, dtype=t0.dtype, device=t0.device)
    prev = (times[0], y0)
    for n, x in states(func, y0, times, method, start, on_step):
        if n and crossed(times[n], x):
            return prev, (times[n], x)
        prev = (times[n], x)
    raise RuntimeError(f"{method.name}: no event within {max_steps} steps of size {h:g}")
