"""Runs one pytest file as a Bazel py_test: ``bazel_pytest_main.py tests/test_x.py [pytest args]``.

Bazel runs a py_test's ``main`` as a script, but the test files are pytest modules (test_* functions,
fixtures from tests/conftest.py), so every py_test in BUILD has this file as ``main`` and its own
test file as the first argument. The file name does not match ``test_*.py``, so a plain ``pytest``
run never collects it.

What it adds to ``pytest.main``:
* the JUnit XML that Bazel asks for (``$XML_OUTPUT_FILE``), so Bazel sees every test case;
* ``bazel test --test_filter=EXPR`` becomes ``-k EXPR``;
* no ``.pytest_cache`` (the runfiles tree is not the place for it);
* imports come from the runfiles tree only, i.e. from what BUILD declares: Python puts the *real*
  folder of this script (the source tree's tests/) first on sys.path, and a venv made with
  ``pip install -e .`` has a finder that maps any ``kws.*`` module missing from the runfiles to
  the checkout it was installed from (possibly another clone); both are dropped here, so a
  missing ``deps`` entry is an ImportError under Bazel too.
Extra pytest options go through pytest's own ``PYTEST_ADDOPTS``
(``--test_env=PYTEST_ADDOPTS="-m 'not slow'"``); if they deselect every test of a file, the file
passes (pytest's exit code 5, "no tests", is mapped to 0 only when tests were deselected).
"""

from __future__ import annotations

import os
import sys


def _pytest_args(argv: list[str]) -> list[str]:
    args = list(argv)
    test_filter = os.environ.get("TESTBRIDGE_TEST_ONLY")  # bazel test --test_filter=...
    if test_filter:
        args += ["-k", test_filter]
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    return args + ["-p", "no:cacheprovider", "--rootdir=."]


class _DeselectedCounter:
    """A pytest plugin that counts the tests -k / -m left out."""

    def __init__(self):
        self.deselected = 0

    def pytest_deselected(self, items):
        self.deselected += len(items)


def _is_editable_finder(obj) -> bool:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return module.startswith("__editable__")


def _isolate_imports() -> None:
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]
    sys.meta_path[:] = [f for f in sys.meta_path if not _is_editable_finder(f)]
    sys.path_hooks[:] = [h for h in sys.path_hooks if not _is_editable_finder(h)]
    sys.path_importer_cache.clear()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(f"usage: {argv[0]} TEST_FILE.py [pytest args]", file=sys.stderr)
        return 2
    _isolate_imports()
    import pytest  # after the fix-up, from the interpreter's site-packages

    counter = _DeselectedCounter()
    code = int(pytest.main(_pytest_args(argv[1:]), plugins=[counter]))
    if code == pytest.ExitCode.NO_TESTS_COLLECTED and counter.deselected:
        print("bazel_pytest_main: every test of this file was deselected", file=sys.stderr)
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
