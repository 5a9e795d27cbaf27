"""``odeint_multistep``: fixed-grid multistep integration with exact or corrected gradients.

By default the forward pass keeps f's autograd graph and autograd returns the exact discrete
gradient (y0 and shared parameters), at autodiff's cost.  Parameters used by a single node
(``correction=True``), gradients with respect to t, ``recompute`` and ``checkpoint`` take the
hand-written backward of :mod:`steadygrad.multistep.adjoint` over stored states: exact
discrete gradients for y0, t and shared parameters, adjoint-consistent ones for the
single-node parameters, one vector-Jacobian product of f per node and sweep.  Outputs off
the grid are interpolated.
"""

from __future__ import annotations

import math

import torch

from .adjoint import Problem, backward, maybe_time_indexed
from .closures import ClosureFinder, hidden_leaves
from .grid import Grid, hermite, make_grid
from .integrate import Checkpointed, Func, check_finite, integrate, states
from .methods import LinearMultistep
from .options import SolveOptions

__all__ = ["odeint_multistep"]


def _probe_closures(func: Func, y0: torch.Tensor, grid: Grid, params: tuple) -> tuple:
    """Tensors requiring grad that func reaches without being told (closures over tensors or
    modules, globals), found in the autograd graph of its value at the first, middle and last
    grid time (``params`` names the rest: a listed non-leaf tensor is not searched past).
    They decide, before the solve, whether anything needs a gradient; the solve itself then
    finds the closures of every step (autograd's graph on the default path, a
    :class:`ClosureFinder` on the others)."""
    finder = ClosureFinder(func, params)
    for n in sorted({0, grid.steps // 2, grid.steps}):
        finder(grid.times[n], y0)
    return tuple(finder.found.values())


def _hermite_slope(theta: float) -> tuple[float, float, float, float]:
    """d/dtheta of :func:`~steadygrad.multistep.grid.hermite`."""
    s = theta
    return 6 * s * s - 6 * s, 3 * s * s - 4 * s + 1, 6 * s - 6 * s * s, 3 * s * s - 2 * s


class _Outputs:
    """Outputs as linear combinations of nodes x_n and of h f(t_n, x_n) (cubic interpolation)."""

    def __init__(self, grid: Grid, interp: str):
        self.grid, self.interp = grid, interp
        self.x_terms, self.f_terms = [], []  # per output: [(node, weight)]
        for n, th in zip(grid.index, grid.theta):
            if th == 0.0:
                self.x_terms.append([(n, 1.0)])
                self.f_terms.append([])
            elif interp == "linear":
                self.x_terms.append([(n, 1.0 - th), (n + 1, th)])
                self.f_terms.append([])
            else:
                h00, h10, h01, h11 = hermite(th)
                self.x_terms.append([(n, h00), (n + 1, h01)])
                self.f_terms.append([(n, h10 * grid.h), (n + 1, h11 * grid.h)])

    def values(self, traj, F: dict) -> torch.Tensor:
        """Outputs from node states ``traj`` (indexable by node) and f values ``F``."""
        rows = []
        for xt, ft in zip(self.x_terms, self.f_terms):
            rows.append(sum(w * traj[n] for n, w in xt) + sum(w * F[n] for n, w in ft))
        return torch.stack(rows)

    def x_nodes(self) -> set:
        return {n for xt in self.x_terms for n, _ in xt}

    def f_nodes(self) -> set:
        return {n for ft in self.f_terms for n, _ in ft}

    def seeds(self, grad_out: torch.Tensor) -> tuple[dict, dict]:
        x_seeds: dict = {}
        f_seeds: dict = {}
        for i in range(len(grad_out)):
            for terms, seeds in ((self.x_terms[i], x_seeds), (self.f_terms[i], f_seeds)):
                for n, w in terms:
                    seeds[n] = seeds[n] + w * grad_out[i] if n in seeds else w * grad_out[i]
        return x_seeds, f_seeds

    def slope(self, i: int, traj: torch.Tensor, F: dict) -> torch.Tensor:
        """d y(t_i) / d t_i."""
        n, th, h = self.grid.index[i], self.grid.theta[i], self.grid.h
        if th == 0.0:
            return F[n]
        if self.interp == "linear":
            return (traj[n + 1] - traj[n]) / h
        d00, d10, d01, d11 = _hermite_slope(th)
        return (d00 * traj[n] + d01 * traj[n + 1]) / h + d10 * F[n] + d11 * F[n + 1]


def _forward(P: Problem, outputs: _Outputs, y0: torch.Tensor, store: bool) -> torch.Tensor:
    """The outputs (len(t), *y0.shape), without autograd graph.  With ``store`` the states
    the backward sweeps read are left in ``P.traj`` (every node, or checkpoints); without it
    only the nodes the outputs need are kept."""
    with torch.no_grad():
        if P.traj is not None:  # states already computed (see _solve_with_graph)
            traj = P.traj
        elif store and P.checkpoint:
            nodes = outputs.x_nodes() | outputs.f_nodes()
            P.traj = Checkpointed(
                P.func, y0, P.times, P.method, P.start, P.checkpoint, nodes, P.on_step
            )
            traj = P.traj.kept
        elif store:
            traj = P.traj = integrate(P.func, y0, P.times, P.method, P.start, on_step=P.on_step)
        else:  # no backward will come (e.g. an adjoint method's forward): keep needed nodes
            nodes = outputs.x_nodes() | outputs.f_nodes()
            kept = integrate(P.func, y0, P.times, P.method, P.start, nodes, P.on_step)
            traj = dict(zip(sorted(nodes), kept))
        F = {n: P.func(P.times[n], traj[n]) for n in outputs.f_nodes()}
        return outputs.values(traj, F)


class _MultistepSolve(torch.autograd.Function):
    """The hand-written backward over a solve already run by :func:`_forward` (``out``): its
    inputs include every tensor the forward pass found func using."""

    @staticmethod
    def forward(ctx, P: Problem, outputs: _Outputs, out, correction: bool, y0, t, *params):
        ctx.problem, ctx.outputs, ctx.correction = P, outputs, correction
        return out

    @staticmethod
    def backward(ctx, grad_out):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "steadygrad multistep solvers do not support double backward (create_graph=True, "
                "e.g. gradient penalties): their backward pass is a hand-written adjoint. Use a "
                "Runge-Kutta method differentiated by autograd (e.g. rk4) for that loss."
            )
        P, outputs = ctx.problem, ctx.outputs
        x_seeds, f_seeds = outputs.seeds(grad_out)
        y0_grad, param_grads = backward(P, x_seeds, f_seeds, ctx.correction)
        t_grad = None
        if ctx.needs_input_grad[5]:
            t_grad = _time_gradient(P, outputs, grad_out, y0_grad)
        return (None, None, None, None, y0_grad, t_grad, *param_grads)


def _time_gradient(P: Problem, outputs: _Outputs, grad_out: torch.Tensor, y0_grad: torch.Tensor):
    """dL/dt_i = <g_i, dy_i/dt_i> (i > 0); dL/dt_0 = -<p(t_0+), f(t_0, x_0)> (adjoint)."""
    with torch.no_grad():
        nodes = {outputs.grid.index[i] for i in range(len(grad_out))} | {0}
        nodes |= {n + 1 for n in outputs.grid.index if n + 1 <= P.steps}
        F = {n: P.func(P.times[n], P.traj[n]) for n in nodes}
        t_grad = torch.zeros(len(grad_out), dtype=grad_out.dtype, device=grad_out.device)
        for i in range(1, len(grad_out)):
            t_grad[i] = (grad_out[i] * outputs.slope(i, P.traj, F)).sum()
        t_grad[0] = -((y0_grad - grad_out[0]) * F[0]).sum()
    return t_grad


def _solve_with_graph(P: Problem, outputs: _Outputs, y0: torch.Tensor, correction: bool):
    """Autograd through the recursion, f's graph kept from the forward pass.

    Its gradient is the exact discrete one, which is what the hand-written backward returns
    for y0 and shared parameters, at autodiff's cost (one engine call, no re-evaluation of
    f).  Returns None when the correction is needed (parameters used by a single node); the
    states computed here are then left in ``P.traj`` for the hand-written sweeps.
    """
    with torch.enable_grad():
        xs = [x for _, x in states(P.func, y0, P.times, P.method, P.start, P.on_step)]
    nodes = sorted(outputs.x_nodes() | {P.steps})
    check_finite(torch.stack([xs[n].detach() for n in nodes]), nodes, P.times, P.method)
    P.traj = [x.detach() for x in xs]
    if correction and maybe_time_indexed(P):
        # the sweeps take over: every tensor the steps reached joins the parameters
        P.params += tuple(hidden_leaves(xs[-1], (y0, *P.params)))
        return None
    with torch.enable_grad():
        F = {n: P.func(P.times[n], xs[n]) for n in outputs.f_nodes()}
        return outputs.values(xs, F)


def _solve_outputs(P: Problem, outputs: _Outputs, y0: torch.Tensor):
    """A solve whose inputs need no gradient, grad mode on: only the output nodes are kept,
    each with the autograd graph of any tensor func uses that requires grad (a closure the
    probes did not meet), so its gradient is autograd's."""
    nodes = outputs.x_nodes() | outputs.f_nodes()
    with torch.enable_grad():
        kept = {
            n: x
            for n, x in states(P.func, y0, P.times, P.method, P.start, P.on_step)
            if n in nodes or n == P.steps
        }
        F = {n: P.func(P.times[n], kept[n]) for n in outputs.f_nodes()}
        out = outputs.values(kept, F)
    check_finite(
        torch.stack([kept[n].detach() for n in sorted(kept)]), sorted(kept), P.times, P.method
    )
    return out


def _solve_by_sweeps(P: Problem, outputs: _Outputs, y0, t, correction: bool) -> torch.Tensor:
    """One forward pass without graph, its states stored, through a :class:`ClosureFinder`,
    so that every tensor func reaches at any step (or at an output's f) joins the
    parameters; then the hand-written backward (:class:`_MultistepSolve`), unless nothing
    needs a gradient after all."""
    func, finder = P.func, ClosureFinder(P.func, P.params)
    P.func = finder
    try:
        out = _forward(P, outputs, y0.detach(), store=True)
    finally:
        P.func = func
        if isinstance(P.traj, Checkpointed):
            P.traj.func = func
    P.params += tuple(finder.found.values())
    if not any(v.requires_grad for v in (y0, t, *P.params)):
        return out
    return _MultistepSolve.apply(P, outputs, out, correction, y0, t, *P.params)


def _working_precision(func: Func, y0: torch.Tensor) -> tuple[Func, torch.Tensor]:
    """Half-precision states (float16, bfloat16) are accumulated in float32: their steps
    h f are below the state's rounding unit (y' = -0.1 y at h = 0.01 moves 10 by 0.01, the
    float16 spacing there is 0.008).  func still sees and returns its own dtype."""
    if y0.dtype not in (torch.float16, torch.bfloat16):
        return func, y0
    half = y0.dtype

    def promoted(t, x):
        return func(t, x.to(half)).to(torch.float32)

    return promoted, y0.to(torch.float32)


def _checkpoint_every(checkpoint, steps: int) -> int:
    """Nodes per checkpoint segment (0: store every node)."""
    if checkpoint is True:
        return max(2, math.isqrt(max(steps, 1)))
    return int(checkpoint or 0)


def odeint_multistep(
    func: Func,
    y0: torch.Tensor,
    t: torch.Tensor,
    method: LinearMultistep,
    options: SolveOptions | None = None,
    **kwargs,
) -> torch.Tensor:
    """Solve dy/dt = func(t, y) on a fixed grid with an explicit multistep method.

    Args:
        func: callable (t: 0-d tensor, y: tensor like y0) -> dy/dt.
        y0: initial state, any shape (batches included).
        t: 1-D increasing output times; times off the grid t[0] + n h are interpolated.
        method: a :class:`LinearMultistep` instance.
        options: a :class:`~steadygrad.multistep.options.SolveOptions`, or its fields as
            keyword arguments: ``step_size`` (h; default t[1] - t[0]), ``correction``
            (adjoint-consistent gradients for parameters used by a single node, default True;
            False: the exact discrete gradient everywhere), ``start`` (one-step starter;
            default the method's), ``params`` (tensors func depends on; default
            ``func.parameters()`` for modules; tensors requiring grad that func reaches
            otherwise, e.g. by a closure, are found in its autograd graph and join them),
            ``interp`` ('linear' or 'cubic' for output times off the grid), ``checkpoint``
            (store every ``checkpoint``-th node and recompute the rest in the backward pass;
            True: every sqrt(N), O(sqrt(N)) memory), ``recompute`` (one state per node, f
            re-evaluated in the backward pass, instead of keeping f's autograd graph: the
            default, autodiff's memory and speed; time-indexed parameters always take the
            recomputing sweeps), ``on_step``
            (on_step(t_n, x_n, h) once per forward step).

    Returns:
        Tensor (len(t), *y0.shape).  Gradients flow to y0, t and ``params``.
    """
    opts = options if options is not None else SolveOptions(**kwargs)
    if options is not None and kwargs:
        raise TypeError("give options or keyword arguments, not both")
    if torch.is_tensor(y0) and y0.is_complex():
        raise ValueError(
            "y0 is complex: steadygrad's multistep methods support real states only; integrate "
            "torch.view_as_real(y0) with func acting on (real, imag) pairs, or use rk4"
        )
    if not torch.is_tensor(y0) or not y0.is_floating_point():
        raise ValueError(f"y0 must be a floating-point tensor, got {_describe(y0)}")
    if torch.is_tensor(t) and t.dim() == 1 and t.numel() == 1:
        return y0.unsqueeze(0).clone()
    grid = make_grid(t, opts.step_size)
    params = opts.params
    if params is None:
        params = tuple(func.parameters()) if isinstance(func, torch.nn.Module) else ()
    params = tuple(p for p in params if torch.is_tensor(p) and p.requires_grad)
    dtype = y0.dtype
    func, y0 = _working_precision(func, y0)
    return _solve(func, y0, t, grid, method, opts, params).to(dtype)


def _describe(value) -> str:
    return f"dtype {value.dtype}" if torch.is_tensor(value) else type(value).__name__


def _solve(func, y0, t, grid: Grid, method, opts: SolveOptions, params: tuple) -> torch.Tensor:
    P = Problem(func, method, grid.times, grid.h, opts.starter(method), params)
    P.on_step = opts.on_step
    P.checkpoint = _checkpoint_every(opts.checkpoint, grid.steps)
    outputs = _Outputs(grid, opts.interp)
    if not torch.is_grad_enabled():
        return _forward(P, outputs, y0, store=False)
    if opts.recompute or P.checkpoint or (torch.is_tensor(t) and t.requires_grad):
        return _solve_by_sweeps(P, outputs, y0, t, opts.correction)
    P.params += _probe_closures(func, y0, grid, params)
    if not any(v.requires_grad for v in (y0, t, *P.params)):
        return _solve_outputs(P, outputs, y0)
    out = _solve_with_graph(P, outputs, y0, opts.correction)
    if out is not None:
        return out
    return _solve_by_sweeps(P, outputs, y0, t, opts.correction)
