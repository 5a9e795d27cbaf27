"""The standard (PINNacle) problems: their reference solvers against independent references,
their equations against their stated solutions, and the suite's bad input."""

import numpy as np
import pytest

HOLES = [(0.3, 0.3, 0.1), (-0.3, 0.3, 0.1), (0.3, -0.3, 0.1), (-0.3, -0.3, 0.1)]


def test_laplace_with_holes_converges_at_second_order_and_keeps_its_symmetry():
    from steadygrad.bench.fd_reference import laplace_with_holes

    sols = {n: laplace_with_holes(n, HOLES)[2] for n in (51, 101, 201)}
    diffs = []
    for a, b in ((51, 101), (101, 201)):
        ua, ub = sols[a], sols[b][::2, ::2]
        both = ~np.isnan(ua) & ~np.isnan(ub)
        diffs.append(np.abs(ua[both] - ub[both]).max())
    assert 3.0 < diffs[0] / diffs[1] < 5.5, diffs  # Shortley-Weller: second order (4)
    assert diffs[1] < 1e-3
    u = sols[201]
    inside = np.isnan(u)
    assert inside.sum() > 0 and np.nanmin(u) >= 0 and np.nanmax(u) <= 1  # maximum principle
    assert np.allclose(u[0], 1) and np.allclose(u[:, -1], 1)
    # the holes' four-fold symmetry: u(x, y) = u(-x, y) = u(y, x)
    assert np.allclose(u, u[::-1], equal_nan=True) and np.allclose(u, u.T, equal_nan=True)


def test_lid_driven_cavity_matches_ghia_for_the_uniform_lid():
    """Ghia, Ghia & Shin (1982), Re = 100: u on the vertical centre line."""
    from steadygrad.bench.fd_reference import lid_driven_cavity

    y = np.array([0.9766, 0.9531, 0.8516, 0.6172, 0.5, 0.4531, 0.2813, 0.1719, 0.0625])
    ghia = np.array(
        [0.84123, 0.68717, 0.23151, -0.13641, -0.20581, -0.21090, -0.15662, -0.10150, -0.04192]
    )
    flow = lid_driven_cavity(65, lid=np.ones_like)
    u = flow.at(np.stack([np.full_like(y, 0.5), y], 1))[:, 0]
    assert np.abs(u - ghia).max() < 5e-3, np.c_[y, ghia, u]
    # no net flow through the centre line, and the lid and walls as set
    g = flow.x[:, 0]
    assert abs(np.trapezoid(flow.u[(g.size - 1) // 2], g)) < 1e-3
    assert np.allclose(flow.u[1:-1, -1], 1) and np.allclose(flow.v[0], 0)
    assert flow.p[0, 0] == pytest.approx(0, abs=1e-9)


def test_lid_driven_cavity_pressure_satisfies_the_momentum_equation():
    """The pressure is integrated from the momentum equation: its gradient must match the
    velocities' (u . grad u - lap u / 100) away from the walls, to the scheme's order."""
    from steadygrad.bench.fd_reference import lid_driven_cavity

    flow = lid_driven_cavity(65)
    h = flow.x[1, 0] - flow.x[0, 0]
    u, v, p = flow.u, flow.v, flow.p
    ux, uy = np.gradient(u, h)
    lap_u = np.gradient(ux, h, axis=0) + np.gradient(uy, h, axis=1)
    px = np.gradient(p, h, axis=0)
    res = (u * ux + v * uy + px - lap_u / 100)[8:-8, 8:-8]
    assert np.abs(res).max() < 0.05 * np.abs(px[8:-8, 8:-8]).max(), np.abs(res).max()


def test_ks_etdrk4_against_radau_and_its_own_refinement():
    """The ETDRK4 integrator against scipy's Radau on the same de-aliased Fourier system, and
    the 256-mode solution (what the benchmark uses) against 512 modes at half the step."""
    from scipy.integrate import solve_ivp
    from steadygrad.bench.spectral_reference import KS_PINNACLE, kuramoto_sivashinsky

    a, b, c = KS_PINNACLE
    n, T = 64, np.array([0.0, 0.1, 0.2])
    x, u = kuramoto_sivashinsky(T, modes=n, dt=1e-4)
    k = np.fft.rfftfreq(n, 1.0 / n)
    keep = k < n / 3

    def rhs(t, y):
        v = np.fft.rfft(y)
        nonlinear = np.fft.rfft(np.fft.irfft(v, n) ** 2) * keep
        return np.fft.irfft((b * k**2 - c * k**4) * v - 0.5j * a * k * nonlinear, n)

    ref = solve_ivp(rhs, (0, T[-1]), u[0], "Radau", t_eval=T, rtol=1e-10, atol=1e-12)
    assert ref.success and np.abs(ref.y.T - u).max() < 1e-6
    times = np.array([0.5])
    _, coarse = kuramoto_sivashinsky(times)
    _, fine = kuramoto_sivashinsky(times, modes=512, dt=5e-5)
    assert np.abs(fine[:, ::2] - coarse).max() < 1e-5
    assert np.abs(coarse[-1]).max() > 1.5  # the solution has grown: not a trivial check
    with pytest.raises(ValueError, match="multiples of dt"):
        kuramoto_sivashinsky(np.array([0.00015]))


def _fd(f, X, axis, order, h=1e-4):
    e = np.zeros(X.shape[1])
    e[axis] = h
    if order == 1:
        return (f(X + e) - f(X - e)) / (2 * h)
    return (f(X + e) - 2 * f(X) + f(X - e)) / h**2


def test_stated_solutions_satisfy_their_equations():
    """Heat2d-MS's and Wave1d-C's exact solutions, and the inverse problems' true fields with
    their sources, by finite differences at random points."""
    from steadygrad.bench.problems import heat2d_multiscale as hm
    from steadygrad.bench.problems import heat_inverse as hi
    from steadygrad.bench.problems import wave1d

    rng = np.random.default_rng(0)
    X = rng.uniform([0, 0, 0], [1, 1, 5], (20, 3))
    res = _fd(hm.exact, X, 2, 1) - hm.K[0] * _fd(hm.exact, X, 0, 2, 1e-3)
    res -= hm.K[1] * _fd(hm.exact, X, 1, 2, 1e-3)
    assert np.abs(res).max() < 1e-5
    X2 = rng.uniform(0, 1, (20, 2))
    res = _fd(wave1d.exact, X2, 1, 2, 1e-3) - 4 * _fd(wave1d.exact, X2, 0, 2, 1e-3)
    assert np.abs(res).max() < 1e-3 * np.abs(_fd(wave1d.exact, X2, 1, 2, 1e-3)).max()
    X3 = rng.uniform([-1, -1, 0], [1, 1, 1], (20, 3))
    flux = sum(
        _fd(lambda Y, j=j: hi.a_exact(Y) * _fd(hi.u_exact, Y, j, 1), X3, j, 1) for j in (0, 1)
    )
    f = hi.source(X3[:, :1], X3[:, 1:2], X3[:, 2:3], np.exp, np.sin, np.cos)
    assert np.abs(_fd(hi.u_exact, X3, 2, 1) - flux - f).max() < 1e-4


def test_poisson_inverse_uses_the_source_its_fields_satisfy_and_pinnacles_does_not():
    from steadygrad.bench.problems import poisson_inverse as pi_

    X = np.random.default_rng(1).uniform(0.05, 0.95, (20, 2))

    def flux_div(X):
        return sum(
            _fd(lambda Y, j=j: pi_.a_exact(Y) * _fd(pi_.u_exact, Y, j, 1), X, j, 1) for j in (0, 1)
        )

    x, y, a = X[:, :1], X[:, 1:2], pi_.a_exact(X)
    ours = pi_.source(x, y, a, np.sin, np.cos)
    assert np.abs(flux_div(X) + ours).max() < 1e-4
    p = np.pi  # PINNacle's f_src, as its paper's code states it
    theirs = (
        2 * p**2 * np.sin(p * x) * np.sin(p * y) * a
        + 2
        * p
        * (
            (2 * x + 1) * np.cos(p * x) * np.sin(p * y)
            + (2 * y + 1) * np.sin(p * x) * np.cos(p * y)
        )
        * a**2
    )
    assert np.abs(flux_div(X) + theirs).max() > 0.5


def test_reference_folder_errors_and_comsol_time_layout(tmp_path):
    from steadygrad.bench.problems.pinnacle import reference_dir, reference_file

    assert reference_file("burgers1d", "burgers1d.dat", 2) is None  # no folder: ours
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with reference_dir(str(tmp_path / "nope")):
            pass
    with reference_dir(str(tmp_path)):
        with pytest.raises(FileNotFoundError, match=r"poisson2d_classic.*poisson_classic\.dat"):
            reference_file("poisson2d_classic", "poisson_classic.dat", 2)
        (tmp_path / "b.dat").write_text(
            "% Model: x\n% X  u (1) @ t=0  u (1) @ t=0.5\n-1 0 0\n0 1 0.25\n1 0 0\n"
        )
        rows = reference_file("burgers1d", "b.dat", 2)
        assert rows.tolist() == [
            [-1, 0, 0],
            [-1, 0.5, 0],
            [0, 0, 1],
            [0, 0.5, 0.25],
            [1, 0, 0],
            [1, 0.5, 0],
        ]
        (tmp_path / "p.dat").write_text("0 0 1\n0.5 0.5 0.25\n")
        assert reference_file("poisson2d_classic", "p.dat", 2).shape == (2, 3)


def test_standard_group_unknown_names_and_reference_option(tmp_path):
    from steadygrad.bench.catalogue import expand
    from steadygrad.bench.problems import STANDARD
    from steadygrad.bench.runner import run_benchmarks

    assert expand(["standard", "burgers1d"]) == STANDARD
    with pytest.raises(ValueError, match=r"unknown problem\(s\) \['burgerz'\].*standard"):
        expand(["burgerz"])
    rows = run_benchmarks(["standard"], quick=True, dry_run=True)
    inverse = [r for r in rows if r["problem"] in ("poisson_inverse", "heat_inverse")]
    assert {r["noise"] for r in inverse} == {0.1}  # PINNacle's noise unless --noise says else
    assert {r["variant"] for r in inverse} == {"limit", "autodiff", "mollifier-auto"}
    # our own problems run the fixed modes; mollifier-auto is the standard problems' variant
    planned = run_benchmarks(quick=True, dry_run=True)
    assert not [r for r in planned if r["variant"] == "mollifier-auto"], planned
    assert not set(STANDARD) & {r["problem"] for r in planned}
    rows = run_benchmarks(["poisson_inverse"], quick=True, dry_run=True, noise=(0.0, 0.05))
    assert {r["noise"] for r in rows} == {0.0, 0.05}
    with pytest.raises(ValueError, match="--reference .* is not a folder"):
        run_benchmarks(["standard"], quick=True, dry_run=True, reference=str(tmp_path / "x"))


def test_equal_time_and_common_target_columns():
    from steadygrad.bench.runner import compare_at_equal_time

    def row(variant, trace):
        return {
            "problem": "p",
            "variant": variant,
            "status": "ok",
            "noise": None,
            "u_l2": trace[-1][1],
            "trace": [{"s": s, "u_l2": e} for s, e in trace],
        }

    fast = row("mollifier-auto", [(0.0, 1.0), (1.0, 0.5), (2.0, 0.3)])
    slow = row("autodiff", [(0.0, 1.0), (1.5, 0.6), (2.5, 0.4), (8.0, 0.2)])
    compare_at_equal_time([fast, slow])
    assert fast["equal_s"] == slow["equal_s"] == 2.0
    assert fast["err_at_equal_s"] == 0.3 and slow["err_at_equal_s"] == 0.6
    assert fast["common_target"] == slow["common_target"] == 0.3  # the worse of the best
    assert fast["s_to_common"] == 2.0 and slow["s_to_common"] == 8.0


def test_pinvs_residual_is_served_whole_and_rows_carry_their_dtype():
    """PInv's residual (as PINNacle writes it: columns of the output, d(a u_x)/dx) needs no
    autodiff fallback; a fallback, where one happens, becomes the row's note."""
    import warnings

    import steadygrad.deepxde as sgd
    from steadygrad.bench.train import _noted_warnings, run_pde_problem

    row = run_pde_problem("poisson_inverse", "mollifier-auto", 0.1, True, 0, "cpu", iterations=3)
    assert row["status"] == "ok" and row["dtype"] == "float32", row
    assert "fallback" not in row
    assert 0 < row["param_rel_err"] and row["trace"] and row["s_to_20pct"] is None
    plain = run_pde_problem("poisson_inverse", "autodiff", 0.1, True, 0, "cpu", iterations=3)
    assert "fallback" not in plain and plain["noise"] == 0.1
    notes = {}
    with warnings.catch_warnings(record=True) as passed:
        warnings.simplefilter("always")
        with _noted_warnings(notes):
            warnings.warn("part went to autodiff", sgd.FallbackWarning)
            warnings.warn("first", sgd.FallbackWarning)
            warnings.warn("unrelated", UserWarning)
    assert notes == {"fallback": "part went to autodiff"}
    assert [str(w.message) for w in passed] == ["unrelated"]


def test_space_only_variant_mollifies_the_spatial_axes_of_a_time_problem():
    """``mollifier-space`` (on request): a TimePDE problem's spatial axes at their widths,
    time left to the lattice's interpolant, and it trains; a problem without time is refused."""
    import numpy as np
    import steadygrad.deepxde as sgd
    from steadygrad.bench.problems import PDE_PROBLEMS
    from steadygrad.bench.problems.common import DEFAULT_VARIANTS
    from steadygrad.bench.train import run_pde_problem
    from steadygrad.bench.variants import enable_variant

    assert "mollifier-space" not in DEFAULT_VARIANTS  # on request only
    setup = PDE_PROBLEMS["heat2d_multiscale"].builder(None, True, np.random.default_rng(0))
    try:
        enable_variant(sgd, "mollifier-space", setup)
        layer = sgd.active().layer
        assert layer.axes == (0, 1) and layer.width == setup.width[:2]
        plain = PDE_PROBLEMS["poisson2d_classic"].builder(None, True, np.random.default_rng(0))
        with pytest.raises(ValueError, match="needs a TimePDE"):
            enable_variant(sgd, "mollifier-space", plain)
    finally:
        sgd.disable()
    row = run_pde_problem(
        "kuramoto_sivashinsky", "mollifier-space", None, True, 0, "cpu", iterations=2
    )
    assert row["status"] == "ok" and "fallback" not in row, row
