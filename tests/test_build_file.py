"""The top-level Bazel BUILD covers the tree, so that it cannot drift silently when modules are added.

BUILD is read by executing it as Python with stand-ins for the Bazel rules (it is plain Starlark
without `load`), so these checks need no Bazel. When one fails, regenerate the file with
`python tools/gen_build.py`; `.ci/bazel_test.sh` runs the real `bazel test`.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import pathlib
import sys

import pytest

# The checkout; under Bazel the runfiles tree, where BUILD gives this test the sources as data.
REPO = pathlib.Path(__file__).absolute().parent.parent
RUNNER = "tests/bazel_pytest_main.py"
REGENERATE = "regenerate it: python tools/gen_build.py"


def _py_files(top: str) -> list[str]:
    base = REPO / top
    if not base.is_dir():
        return []
    return sorted(p.relative_to(REPO).as_posix() for p in base.rglob("*.py")
                  if "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def rules() -> list[tuple[str, dict]]:
    found = []

    def rule(kind):
        def record(**attrs):
            found.append((kind, attrs))
        return record

    def glob(include, exclude=(), **_):
        files = {p.relative_to(REPO).as_posix() for pattern in include
                 for p in REPO.glob(pattern) if p.is_file()}
        return sorted(f for f in files if not any(fnmatch.fnmatch(f, e) for e in exclude))

    names = {kind: rule(kind) for kind in ("py_library", "py_test", "py_binary", "filegroup",
                                           "test_suite", "sh_test")}
    names.update(package=lambda **_: None, exports_files=lambda *_, **__: None, glob=glob)
    text = (REPO / "BUILD").read_text(encoding="utf-8")
    exec(compile(text, str(REPO / "BUILD"), "exec"), names)  # noqa: S102 - our own file
    return found


def _of(rules, kind):
    return [attrs for k, attrs in rules if k == kind]


def _main_guard(path: str) -> bool:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    return any(isinstance(n, ast.If) and isinstance(n.test, ast.Compare)
               and isinstance(n.test.left, ast.Name) and n.test.left.id == "__name__"
               for n in ast.walk(tree))


def test_target_names_are_unique_and_deps_exist(rules):
    names = [attrs["name"] for _, attrs in rules]
    assert len(names) == len(set(names)), f"duplicate target names in BUILD; {REGENERATE}"
    top_level = {p.name for p in REPO.iterdir() if p.is_dir()}
    assert not top_level & set(names), "a target named like a top-level folder hides it in runfiles"
    missing = {dep for _, attrs in rules for dep in attrs.get("deps", [])
               if dep.startswith(":") and dep[1:] not in names}
    assert not missing, f"deps on targets that BUILD does not define: {sorted(missing)}"


def test_every_module_has_exactly_one_py_library(rules):
    libraries = _of(rules, "py_library")
    for attrs in libraries:
        assert len(attrs["srcs"]) == 1, f"{attrs['name']}: one py_library per module"
    modules = _py_files("kws") + _py_files("export")
    assert modules, "no modules found under kws/"
    srcs = [attrs["srcs"][0] for attrs in libraries]
    missing = [m for m in modules if m not in srcs]
    assert not missing, f"modules without a py_library in BUILD: {missing}; {REGENERATE}"
    twice = sorted({s for s in srcs if srcs.count(s) > 1})
    assert not twice, f"modules in more than one py_library: {twice}"
    gone = [s for s in srcs if not (REPO / s).exists()]
    assert not gone, f"py_library of modules that no longer exist: {gone}; {REGENERATE}"


def test_every_test_file_has_a_py_test_run_by_pytest(rules):
    tests = _of(rules, "py_test")
    test_files = [f for f in _py_files("tests") if pathlib.PurePath(f).name.startswith("test_")]
    assert "tests/test_build_file.py" in test_files
    for test_file in test_files:
        owners = [t for t in tests if test_file in t["srcs"]]
        assert len(owners) == 1, f"{test_file}: {len(owners)} py_test targets; {REGENERATE}"
        (attrs,) = owners
        assert attrs["main"] == RUNNER and RUNNER in attrs["srcs"], attrs["name"]
        assert attrs["args"][:1] == [test_file], attrs["name"]
    stale = [t["name"] for t in tests if not (REPO / t["args"][0]).exists()]
    assert not stale, f"py_test of files that no longer exist: {stale}; {REGENERATE}"


def test_every_entry_point_has_a_py_binary(rules):
    binaries = {attrs["main"]: attrs for attrs in _of(rules, "py_binary")}
    setup = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    scripts = [elt.value for node in ast.walk(setup) if isinstance(node, ast.Dict)
               for key, value in zip(node.keys, node.values)
               if isinstance(key, ast.Constant) and key.value == "console_scripts"
               for elt in value.elts]
    assert scripts, "setup.py has no console_scripts"
    for spec in scripts:
        script, _, target = (s.strip() for s in spec.partition("="))
        path = target.partition(":")[0].replace(".", "/") + ".py"
        assert path in binaries, f"console script {script}: no py_binary with main={path}"
        assert _main_guard(path), f"{path} needs `if __name__ == \"__main__\":` to run as a binary"
    mains = [m for m in _py_files("kws") + _py_files("export") if _main_guard(m)]
    missing = [m for m in mains if m not in binaries]
    assert not missing, f"modules with a __main__ block but no py_binary: {missing}; {REGENERATE}"


def test_deps_cover_the_kws_imports(rules):
    """What Bazel would report as an ImportError inside its sandbox, found without Bazel."""
    spec = importlib.util.spec_from_file_location("gen_build", REPO / "tools" / "gen_build.py")
    gen_build = importlib.util.module_from_spec(spec)
    sys.modules["gen_build"] = gen_build  # dataclasses look their module up there
    spec.loader.exec_module(gen_build)
    tree = gen_build.scan(REPO)
    graph = gen_build.dependency_graph(tree)
    assert not graph.cycle, f"import cycle, which Bazel refuses: {' -> '.join(graph.cycle)}"
    declared = {attrs["srcs"][0]: attrs for attrs in _of(rules, "py_library")}
    declared.update({attrs["args"][0]: attrs for attrs in _of(rules, "py_test")})
    binaries = {attrs["main"]: attrs for attrs in _of(rules, "py_binary")}
    problems = []
    for wanted, targets in ((graph.libraries, declared), (graph.tests, declared),
                            (graph.binaries, binaries)):
        for path, needed in sorted(wanted.items()):
            attrs = targets.get(path)
            if attrs is None:
                problems.append(f"{path}: no target")
                continue
            lacking = {f":{d}" for d in needed} - set(attrs.get("deps", []))
            if lacking:
                problems.append(f"{attrs['name']} lacks deps {sorted(lacking)}")
    assert not problems, "; ".join(problems) + f"; {REGENERATE}"
