"""Every command and code block in README.md and docs/*.md runs (so documentation cannot rot).

Snippets are extracted from the Markdown files themselves:

* fenced ``python`` blocks run as scripts;
* fenced ``bash`` blocks and inline `python -m steadygrad ...` commands run as commands, except
  the set-up and test commands (this suite *is* the test command; CI runs the set-up);
* documented ``bench`` commands run with ``--dry-run`` (options and problem names validated;
  full sizes are meant for a GPU), except the README's ``bench --quick``, which runs whole
  (with the demo, among the slow tests);
* ``run SCRIPT`` commands run at reduced size (``--iterations`` passed to the script).
"""

import glob
import os
import re
import shlex
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
#: commands that are not run here, with the reason
NOT_RUN = {
    ".venv/bin/python -m pytest -q": "the test command itself",
    ".venv/bin/python -m pytest -q -m slow": "the long test command itself",
}
SETUP = re.compile(r"python3 -m venv")


def _blocks(path):
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        yield m.group(1), m.group(2), text[: m.start()].count("\n") + 1


def _inline_commands(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(
        r"^```.*?^```",
        lambda m: "\n" * m.group(0).count("\n"),
        text,
        flags=re.DOTALL | re.MULTILINE,
    )
    for m in re.finditer(r"`(python -m steadygrad [^`]+)`", text):
        yield m.group(1), text[: m.start()].count("\n") + 1


def _snippets():
    out = []
    for path in DOCS:
        name = os.path.relpath(path, ROOT)
        for lang, body, line in _blocks(path):
            if lang == "python":
                out.append(pytest.param("python", body, id=f"{name}:{line}:python"))
            elif lang in ("bash", "sh"):
                for cmd in body.strip().splitlines():
                    if cmd.strip() and not SETUP.search(cmd) and cmd.strip() not in NOT_RUN:
                        out.append(
                            pytest.param(
                                "shell", cmd.strip(), id=f"{name}:{line}:{cmd.strip()[:40]}"
                            )
                        )
        for cmd, line in _inline_commands(path):
            out.append(pytest.param("shell", cmd, id=f"{name}:{line}:{cmd[21:60]}"))
    out = [_mark_long(p) for p in out]
    seen: set = set()  # a command documented twice runs once (bench --quick takes minutes)
    return [p for p in out if not (p.values in seen or seen.add(p.values))]


def _mark_long(param):
    """The README's whole ``bench --quick`` (minutes), the demo (a minute) and the Python
    examples that train a DeepXDE model to the end (tens of seconds each) run with the slow
    tests; the modules they use are covered at small sizes by their own tests."""
    kind, snippet = param.values
    long_shell = kind == "shell" and snippet.split()[3:] in (["bench", "--quick"], ["demo"])
    if long_shell or (kind == "python" and "model.train(" in snippet):
        return pytest.param(kind, snippet, id=param.id, marks=pytest.mark.slow)
    return param


def _adapt(cmd: str) -> list[str]:
    """The documented command as run here (see the module docstring)."""
    args = shlex.split(cmd)
    assert args[:3] == ["python", "-m", "steadygrad"], cmd
    args[0] = sys.executable
    sub = args[3] if len(args) > 3 else ""
    if sub == "bench" and args[4:] != ["--quick"]:
        args.append("--dry-run")
    if sub == "run":
        args += ["--iterations", "50"]
    return args


@pytest.mark.parametrize("kind,snippet", _snippets())
def test_documented_snippet_runs(cli, kind, snippet, tmp_path, monkeypatch, capsys):
    args = _adapt(snippet) if kind == "shell" else []
    if "--dry-run" in args:  # validation only: the CLI in this process (no interpreter start)
        from steadygrad.cli import main

        monkeypatch.chdir(tmp_path)
        code = main(args[3:])
        assert code == 0, (snippet, capsys.readouterr())
        return
    if kind == "python":
        script = tmp_path / "snippet.py"
        script.write_text(snippet)
        res = cli([sys.executable, str(script)], cwd=tmp_path, timeout=600)
    else:
        if "examples/" in snippet:  # documented relative to the repository root
            cwd = ROOT
            snippet = snippet.replace("examples/", os.path.join(ROOT, "examples") + "/")
        else:
            cwd = tmp_path
        # a guard against hangs, not a speed test: the whole bench --quick took over 900 s on
        # the 2-core machine while other processes shared it
        res = cli(_adapt(snippet), cwd=cwd, timeout=2400)
    assert res.returncode == 0, (snippet, res.stdout[-2000:], res.stderr[-3000:])


def test_docs_have_snippets():
    """The extraction finds the README's blocks (a test that cannot silently collect nothing)."""
    ids = [p.id for p in _snippets()]
    assert sum(":python" in i for i in ids if i.startswith("README.md")) >= 2, ids
    assert any("bench --quick" in p.values[1] for p in _snippets())
    assert any(" run " in p.values[1] for p in _snippets())


@pytest.mark.parametrize(
    "script,args",
    [
        ("beam.py", ["--iterations", "50"]),
        ("diffusion_reaction_inverse.py", ["--iterations", "50"]),
        ("heat3d_distributed.py", ["--adam", "20", "--lbfgs", "3", "--size", "7"]),
    ],
)
def test_example_scripts_run_at_reduced_size(cli, script, args, tmp_path):
    res = cli(
        [sys.executable, os.path.join(ROOT, "examples", script), *args], cwd=tmp_path, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
