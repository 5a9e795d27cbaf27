"""Dependencies point one way: the numerics never import (or speak of) the hosts."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: the front door, allowed to reach the hosts: the package's import (it registers the ODE
#: solvers in torchdiffeq), the public DeepXDE module, the command line, the demo and the
#: benchmark suite (which runs DeepXDE and torchdiffeq by design)
FRONT = {"__init__.py", "__main__.py", "cli.py", "demo.py", "deepxde.py", "bench"}
#: every other module under plugins/, new ones included
NUMERICS = [
    p
    for p in sorted((ROOT / "plugins").rglob("*.py"))
    if p.relative_to(ROOT / "plugins").parts[0] not in FRONT
]
FORBIDDEN = re.compile(r"^(deepxde|torchdiffeq|steadygrad\.adapters)(\.|$)")


def _imports(path: pathlib.Path, plugins: pathlib.Path = ROOT / "plugins"):
    tree = ast.parse(path.read_text())
    package = ["steadygrad", *path.relative_to(plugins).parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_numerics_do_not_import_the_hosts():
    names = {str(p.relative_to(ROOT / "plugins")) for p in NUMERICS}
    assert {"registry.py", "derivatives.py", "mollifier/layer.py", "multistep/solve.py"} <= names
    assert len(NUMERICS) >= 35
    bad = {
        str(p.relative_to(ROOT)): name
        for p in NUMERICS
        for name in _imports(p)
        if FORBIDDEN.match(name)
    }
    assert not bad, bad


def test_numerics_do_not_speak_of_the_hosts():
    bad = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in NUMERICS
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"deepxde|torchdiffeq|options=\{", line, re.IGNORECASE)
    ]
    assert not bad, bad


def test_the_check_itself_bites(tmp_path):
    """The parser sees relative imports of the adapters (a check that cannot fail is a defect)."""
    fake = tmp_path / "plugins" / "mollifier" / "_probe.py"  # never inside the source tree
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..adapters import deepxde\nimport torchdiffeq\n")
    names = set(_imports(fake, tmp_path / "plugins"))
    assert {"steadygrad.adapters", "torchdiffeq"} <= names, names
    glue = tmp_path / "adapters" / "_probe.py"
    glue.parent.mkdir()
    glue.write_text("from ..bench import runner\n")
    assert any(ADAPTER_FORBIDDEN.match(n) for n in _imports(glue, tmp_path))


#: what the adapters may not import: the front door (they are glue between hosts and numerics)
ADAPTER_FORBIDDEN = re.compile(r"^steadygrad\.(bench|cli|demo|__main__)(\.|$)")


def test_adapters_import_only_the_numerics():
    adapters = sorted((ROOT / "adapters").rglob("*.py"))
    assert len(adapters) >= 5
    bad = {
        str(p.relative_to(ROOT)): name
        for p in adapters
        for name in _imports(p, ROOT)
        if ADAPTER_FORBIDDEN.match(name)
    }
    assert not bad, bad


def test_every_package_folder_is_installed():
    """A non-editable install ships only the packages pyproject lists: a new sub-package must be
    listed there (an editable install hides the omission; CI's fresh install does not)."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = set()
    for folder, package in (("plugins", "steadygrad"), ("adapters", "steadygrad.adapters")):
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            on_disk.add(".".join([package, *parts]))
    assert on_disk == listed
