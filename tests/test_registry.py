"""Entry-point discovery: built-ins, duplicates and broken third-party plugins."""

import sys
import warnings

import pytest
from steadygrad import registry


def test_builtin_plugins_discovered():
    assert {"mollifier", "autodiff"} <= set(registry.names("steadygrad.derivatives"))
    assert {"polynomial", "bump", "gaussian"} <= set(registry.names("steadygrad.kernels"))
    assert {"leapfrog", "ab2", "ab3", "ab4", "milne"} <= set(
        registry.names("steadygrad.ode_solvers")
    )
    assert registry.load("steadygrad.kernels", "bump")().name == "bump"


def test_unknown_names_and_groups():
    with pytest.raises(ValueError, match="available"):
        registry.load("steadygrad.kernels", "nope")
    with pytest.raises(ValueError, match="unknown plugin group"):
        registry.names("steadygrad.other")


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    dist = tmp_path / "thirdparty_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[steadygrad.kernels]\n"
        "broken = thirdparty_missing_module:Kernel\n"
        "bump = thirdparty_other:Bump\n"
        "triangle = tp_kernels:Triangle\n"
    )
    (tmp_path / "tp_kernels.py").write_text(
        "from steadygrad.mollifier.kernels import PolynomialKernel\n"
        "class Triangle(PolynomialKernel):\n    name = 'triangle'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    yield
    sys.modules.pop("tp_kernels", None)
    registry.refresh()


def test_broken_and_duplicate_entry_points_warn_but_do_not_break(fake_distribution):
    with pytest.warns(RuntimeWarning, match="several entry points named 'bump'"):
        names = registry.names("steadygrad.kernels")
    assert {"broken", "triangle", "bump"} <= set(names)
    assert registry.load("steadygrad.kernels", "bump").__module__ == "steadygrad.mollifier.kernels"
    assert registry.load("steadygrad.kernels", "triangle").name == "triangle"
    with pytest.warns(RuntimeWarning, match="'broken'.*thirdparty_missing_module.*failed to load"):
        with pytest.raises(ValueError, match="broken"):
            registry.load("steadygrad.kernels", "broken")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert "broken" not in registry.available("steadygrad.kernels")
        assert "polynomial" in registry.available("steadygrad.kernels")


def test_builtins_are_declared_once_in_pyproject():
    import tomllib
    from pathlib import Path

    table = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"][
        "entry-points"
    ]
    assert registry.builtins() == {g: dict(table[g]) for g in registry.GROUPS}


def test_entry_point_of_the_wrong_kind_is_named(tmp_path, monkeypatch):
    dist = tmp_path / "wrongkind-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wrongkind\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[steadygrad.kernels]\njoin = os.path:join\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    try:
        from steadygrad.mollifier import make_kernel

        with pytest.raises(
            TypeError,
            match=r"'join' of group 'steadygrad.kernels' \(os.path:join, from wrongkind\)",
        ):
            make_kernel("join")
    finally:
        registry.refresh()
