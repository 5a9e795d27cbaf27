"""``residual4``: one training step of a biharmonic residual, with its accuracy next to its cost.

Variants on the same network and n x n lattice: a plain fit step (no derivatives: the floor),
the mollifier in grid and scattered mode (``precision='auto'``), DeepXDE's nested reverse-mode
autodiff, and torch.func forward-over-reverse (the Hessian of the Laplacian, vmapped over
points: the strongest autodiff alternative).  Every row carries ``rel_err``: the max error of
the residual it computed against the same quantity computed in float64, relative to its max.
"""

from __future__ import annotations

import copy

import torch

from .measure import measure

__all__ = ["VARIANTS", "residual4"]

VARIANTS = ("plain-fit", "mollifier-grid", "mollifier-scattered", "autodiff", "autodiff-torch.func")


def _mlp(width: int, depth: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(2, width), torch.nn.Tanh()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))


def _residual_fn(variant: str, net: torch.nn.Module, h: float):
    """A function X -> biharmonic residual (N, 1) of ``net`` computed by ``variant``."""
    import warnings

    from ..mollifier import MollifierLayer, PrecisionWarning

    if variant.startswith("mollifier"):
        layer = MollifierLayer(net, width=3 * h, spacing=h, mode=variant.split("-")[1])

        def mollified(X):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrecisionWarning)
                u = layer(X)
                return (
                    layer.derivative(u, (4, 0))
                    + 2 * layer.derivative(u, (2, 2))
                    + layer.derivative(u, (0, 4))
                )

        return mollified
    if variant == "autodiff":
        from .problems.common import deepxde as _dde

        dde = _dde()

        def nested(X):
            x = X.clone().requires_grad_(True)
            y = net(x)
            dde.grad.clear()
            u_xx, u_yy = dde.grad.hessian(y, x, i=0, j=0), dde.grad.hessian(y, x, i=1, j=1)
            out = (
                dde.grad.hessian(u_xx, x, i=0, j=0)
                + 2 * dde.grad.hessian(u_xx, x, i=1, j=1)
                + dde.grad.hessian(u_yy, x, i=1, j=1)
            )
            dde.grad.clear()
            return out

        return nested
    if variant == "autodiff-torch.func":
        from torch.func import functional_call, jacfwd, jacrev, vmap

        def bilaplacian(X):
            params = dict(net.named_parameters())

            def g(x):
                return functional_call(net, params, (x[None],))[0, 0]

            def lap(x):
                return torch.trace(jacfwd(jacrev(g))(x))

            return vmap(lambda x: torch.trace(jacfwd(jacrev(lap))(x)))(X)[:, None]

        return bilaplacian
    return lambda X: net(X)


def residual4(
    quick: bool,
    device: str,
    seed: int,
    dtypes=(torch.float32, torch.float64),
    sizes: tuple[int, ...] | None = None,
    variants: tuple[str, ...] = VARIANTS,
) -> list[dict]:
    """Rows per size, dtype and variant: ms per step, peak memory, rel_err vs float64, ratios.
    ``sizes``: lattice sides n (n x n points; default 64 quick, 512 full)."""
    width, depth = (64, 2) if quick else (128, 3)
    base = _mlp(width, depth, seed)
    rows = []
    for n in sizes or ((64,) if quick else (512,)):
        for dtype in dtypes:
            rows += _size_rows(n, dtype, variants, base, quick, device)
    _ratios(rows)
    return rows


def _size_rows(n: int, dtype, variants, base, quick: bool, device: str) -> list[dict]:
    """One lattice size and dtype: a row per variant."""
    h = 1.0 / (n - 1)
    g = torch.linspace(0, 1, n, dtype=torch.float64)
    X64 = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2).to(device)
    X, references, rows = X64.to(dtype), {}, []
    widths = [m.out_features for m in base if isinstance(m, torch.nn.Linear)]
    mlp = f"2-{widths[0]}x{len(widths) - 1}-1"
    for variant in variants:
        net = copy.deepcopy(base).to(device=device, dtype=dtype)
        fn = _residual_fn(variant, net, h)

        last: dict = {}

        def step():
            net.zero_grad()
            out = fn(X)
            out.pow(2).mean().backward()
            last["out"] = out.detach()  # the accuracy check reads the last step's residual

        # torch.func transforms crash under the per-op dispatch mode: poll the heap instead
        res = measure(
            step,
            repeats=2 if quick else 10,
            device=device,
            min_seconds=1.5,
            cpu_memory="polled" if variant == "autodiff-torch.func" else "per-op",
        )
        row = {
            "problem": "residual4",
            "variant": variant,
            "dtype": str(dtype).replace("torch.", ""),
            "grid": f"{n}x{n}",
            "mlp": mlp,
            "status": res["status"],
            "ms_per_step": None if res["seconds"] is None else 1000 * res["seconds"],
            "peak_mb": res.get("peak_mb"),
            "memory_kind": res.get("memory_kind"),
        }
        if res["status"] == "ok" and variant != "plain-fit":
            try:
                row["rel_err"] = _accuracy(variant, base, last["out"], X64, h, device, references)
            except torch.cuda.OutOfMemoryError:  # the float64 reference did not fit
                row["rel_err"], row["note"] = None, "out of memory computing rel_err"
        rows.append(row)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return rows


def _accuracy(variant, base, out, X64, h, device, references) -> float | None:
    """max |out - residual in float64| / max |residual in float64| (same method); ``out``:
    the residual a training step computed."""
    key = "mollifier" if variant.startswith("mollifier") else variant
    if key not in references:
        ref_net = copy.deepcopy(base).to(device=device, dtype=torch.float64)
        ref_variant = "mollifier-grid" if key == "mollifier" else variant
        references[key] = _residual_fn(ref_variant, ref_net, h)(X64).detach()
    ref = references[key]
    return float((out.double() - ref).abs().max() / ref.abs().max())


def _ratios(rows: list[dict]) -> None:
    """Within each size and dtype: time vs the plain fit; the best autodiff's time and memory
    vs this row."""
    for grid, dtype in {(r["grid"], r["dtype"]) for r in rows}:
        sub = {r["variant"]: r for r in rows if (r["grid"], r["dtype"]) == (grid, dtype)}
        ok_autodiff = [
            sub[v]
            for v in ("autodiff", "autodiff-torch.func")
            if v in sub and sub[v]["status"] == "ok"
        ]
        best = min(ok_autodiff, key=lambda r: r["ms_per_step"], default=None)
        for r in sub.values():
            if r["status"] != "ok":
                continue
            if sub.get("plain-fit", {}).get("status") == "ok":
                r["x_plain_time"] = r["ms_per_step"] / sub["plain-fit"]["ms_per_step"]
            if best is not None and r["variant"].startswith("mollifier"):
                r["best_autodiff"] = best["variant"]
                r["autodiff_time_ratio"] = best["ms_per_step"] / r["ms_per_step"]
                if r["peak_mb"] and best["peak_mb"]:
                    r["autodiff_memory_ratio"] = best["peak_mb"] / r["peak_mb"]
