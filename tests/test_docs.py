"""The documentation runs: every Python code block of the tutorials and how-to guides is executed,
and the site builds with ``mkdocs build --strict`` (no broken internal links, no docstring warnings).

One test per page: the page's ```python blocks run in order in one namespace, in a fresh temporary
folder (files the page writes land there). Outputs are checked where the page shows them:

- an expression statement whose line ends in ``# -> VALUE`` must give ``VALUE`` (its ``str``, its
  ``repr``, or equal to ``VALUE`` read as a Python literal; a float literal is matched to the digits
  shown);
- a ```pycon block is a doctest, run in the page's namespace.

A block whose first line is ``# not run: REASON`` is shown but not executed (the reason is
required). A page may start with ``<!-- docs-test: slow -->`` (marked slow) and/or
``<!-- docs-test: needs onnx, matplotlib -->`` (skipped with the reason when a package is absent).
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
PAGE_FOLDERS = ("tutorials", "how-to")
FENCE = re.compile(r"^```(python|pycon)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")
EXPECT = re.compile(r"#\s*->\s*(.+?)\s*$")
NOT_RUN = re.compile(r"#\s*not run:\s*(\S.*)")


def doc_pages() -> list[str]:
    """The landing page and every page of the tutorials and how-to guides, relative to ``docs/``."""
    pages = ["index.md"]                                               # the landing page's example too
    for folder in PAGE_FOLDERS:
        for name in sorted(os.listdir(os.path.join(DOCS, folder))):
            if name.endswith(".md"):
                pages.append(f"{folder}/{name}")
    return pages


def read_page(page: str) -> str:
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        return f.read()


def page_directives(text: str) -> tuple[bool, list[str]]:
    """(slow, needed packages) from the page's ``<!-- docs-test: ... -->`` comments."""
    slow, needs = False, []
    for directive in DIRECTIVE.findall(text):
        for part in directive.split(";"):
            part = part.strip()
            if part == "slow":
                slow = True
            elif part.startswith("needs"):
                needs += [p.strip() for p in part[len("needs"):].split(",") if p.strip()]
    return slow, needs


def code_blocks(text: str) -> list[tuple[str, str, int]]:
    """``(language, code, line)`` for each ```python / ```pycon block, ``line`` its first code line."""
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start(2)) + 1) for m in FENCE.finditer(text)]


def matches(value: object, expected: str) -> bool:
    """Whether ``value`` is what the page shows as ``expected`` (see the module docstring)."""
    if str(value) == expected or repr(value) == expected:
        return True
    try:
        literal = ast.literal_eval(expected)
    except (ValueError, SyntaxError):
        return False
    if isinstance(literal, float) and not isinstance(value, (str, bytes)):
        decimals = len(expected.split(".")[1].rstrip("%")) if "." in expected else 0
        return bool(abs(float(value) - literal) <= 0.5 * 10.0 ** -decimals)   # type: ignore[arg-type]
    try:
        got, want = np.asarray(value), np.asarray(literal)
        return got.shape == want.shape and bool(np.all(got == want))
    except (ValueError, TypeError):
        return False


def run_python_block(code: str, namespace: dict, where: str) -> None:
    """Run ``code`` statement by statement; a statement with ``# -> VALUE`` is checked."""
    lines = code.splitlines()
    tree = ast.parse(code, filename=where)
    for stmt in tree.body:
        expected = EXPECT.search(lines[stmt.end_lineno - 1])
        if isinstance(stmt, ast.Expr) and expected:
            value = eval(compile(ast.Expression(stmt.value), where, "eval"), namespace)
            assert matches(value, expected.group(1)), (
                f"{where}, line {stmt.lineno}: the page shows {expected.group(1)!r}, the code gives {value!r}")
        else:
            exec(compile(ast.Module([stmt], type_ignores=[]), where, "exec"), namespace)


def run_pycon_block(code: str, namespace: dict, where: str) -> None:
    """Run a doctest block in ``namespace``; every shown output must match."""
    test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    namespace.update(test.globs)                                       # DocTest ran on a copy
    assert runner.failures == 0, f"{where}: doctest failed\n" + "".join(report)


def run_page(page: str) -> None:
    """Run every code block of ``page`` in order, in one namespace."""
    namespace: dict = {"__name__": "__main__"}
    for language, code, line in code_blocks(read_page(page)):
        where = f"docs/{page}:{line}"
        first = code.lstrip().splitlines()[0] if code.strip() else ""
        if first.startswith("# not run"):
            assert NOT_RUN.match(first), f"{where}: a block that is not run must say why ('# not run: REASON')"
            continue
        if language == "pycon":
            run_pycon_block(code, namespace, where)
        else:
            run_python_block(code, namespace, where)


def page_param(page: str):
    slow, needs = page_directives(read_page(page))
    marks = [pytest.mark.slow] if slow else []
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        marks.append(pytest.mark.skip(reason=f"{page} needs {', '.join(missing)} (not installed)"))
    return pytest.param(page, marks=marks, id=page)


@pytest.mark.parametrize("page", [page_param(p) for p in doc_pages()])
def test_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    try:
        run_page(page)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def test_every_page_has_code():
    """A tutorial or guide with no runnable block would pass unnoticed."""
    for page in doc_pages():
        if page.endswith("/index.md"):
            continue
        blocks = [code for _, code, _ in code_blocks(read_page(page)) if not code.lstrip().startswith("# not run")]
        assert blocks, f"docs/{page} has no executed code block"


def test_checks_can_fail():
    """The output checks reject a wrong value, a wrong doctest output and a reasonless skip."""
    assert matches(61706, "61706") and matches((4, 10), "(4, 10)") and matches(0.98611, "0.986")
    assert not matches(61707, "61706") and not matches(0.9, "0.986") and not matches("a", "b")
    with pytest.raises(AssertionError, match="shows"):
        run_python_block("1 + 1  # -> 3\n", {}, "example")
    with pytest.raises(AssertionError, match="doctest failed"):
        run_pycon_block(">>> 1 + 1\n3\n", {}, "example")
    run_python_block("x = 2\nx * 3  # -> 6\n", {}, "example")


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    """``mkdocs build --strict``: broken internal links, missing pages and docstring warnings fail."""
    missing = [m for m in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material")
               if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing or shutil.which("mkdocs") is None:
        pytest.skip(f"the docs extra is not installed ({', '.join(missing) or 'mkdocs command'}): "
                    'pip install -e ".[docs]"')
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "how-to" / "own-image-folder.html").exists()


# ------------------------------------------------------------------ every public argument documented
# The public API: what these modules export (``__all__``, else their public names). Every class and
# function among them whose signature has parameters documents each one in an ``Args:`` section of
# its docstring (a class: its own docstring or its own ``__init__``'s), as docs/contributing.md says.
API_MODULES = ("strided", "strided.nn", "strided.nn.functional", "strided.nn.init", "strided.nn.utils",
               "strided.optim", "strided.optim.lr_scheduler", "strided.train", "strided.train.callbacks",
               "strided.train.metrics", "strided.distributed", "strided.io", "strided.threads", "strided.memory",
               "strided.random", "strided.data", "strided.data.transforms", "strided.models", "strided.analysis",
               "strided.viz", "strided.geometry", "strided.onnx")
ARGS_ENTRY = re.compile(r"^ {4}\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:")

# Public objects whose Args: section is not complete yet (issue 19). This list only shrinks: a new
# public class or function documents its arguments, and an entry whose gap is closed must be removed
# (test_undocumented_allow_list_is_current says which).
UNDOCUMENTED_ARGS: frozenset[str] = frozenset()   # every public object is documented; keep it so


def public_api() -> dict[str, object]:
    """``{qualified name: object}`` for the public classes and functions, each under its first name."""
    import importlib
    import inspect
    found: dict[int, tuple[str, object]] = {}
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if ((inspect.isclass(obj) or inspect.isfunction(obj))
                    and getattr(obj, "__module__", "").startswith("strided")):
                found.setdefault(id(obj), (f"{module_name}.{name}", obj))
    return dict(found.values())


def signature_params(obj) -> list[str]:
    """The parameters a user passes (``self``/``cls`` left out); none for a class whose constructor
    is not strided's (a plain exception, a class without ``__init__``)."""
    import inspect
    if inspect.isclass(obj):
        owner = next((k for k in obj.__mro__ if "__init__" in vars(k) or "__new__" in vars(k)), object)
        if not owner.__module__.startswith("strided"):
            return []
    try:
        parameters = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return []
    return [name for name in parameters if name not in ("self", "cls")]


def documented_args(obj) -> set[str]:
    """The names of the entries of the ``Args:`` sections of ``obj``'s docstring (and of a class's
    own ``__init__``: an inherited one is not shown by the API reference)."""
    import inspect
    docs = [inspect.getdoc(obj) or ""]
    if inspect.isclass(obj):
        for constructor in ("__init__", "__new__"):      # a tuple subclass documents its own __new__
            if constructor in vars(obj):
                method = vars(obj)[constructor]
                docs.append(inspect.getdoc(getattr(method, "__func__", method)) or "")
    names: set[str] = set()
    for doc in docs:
        inside = False
        for line in doc.splitlines():
            if line and not line.startswith(" "):
                inside = line.strip() == "Args:"
                continue
            match = ARGS_ENTRY.match(line) if inside else None
            if match:
                names.add(match.group(1))
    return names


def undocumented_args() -> dict[str, list[str]]:
    """``{name: [parameters without an Args: entry]}`` over the public API."""
    gaps = {}
    for name, obj in public_api().items():
        missing = [p for p in signature_params(obj) if p not in documented_args(obj)]
        if missing:
            gaps[name] = missing
    return gaps


def test_every_public_argument_is_documented():
    """A new public class or function without an ``Args:`` entry for each parameter fails here."""
    gaps = {name: params for name, params in undocumented_args().items() if name not in UNDOCUMENTED_ARGS}
    assert not gaps, ("public objects with parameters missing from their docstring's Args: section "
                      "(see docs/contributing.md):\n" + "\n".join(f"  {n}: {', '.join(p)}" for n, p in gaps.items()))


def test_undocumented_allow_list_is_current():
    """An allow-listed object that is now documented (or gone) leaves the list, so it cannot regress."""
    stale = sorted(UNDOCUMENTED_ARGS - set(undocumented_args()))
    assert not stale, f"documented now, remove from UNDOCUMENTED_ARGS in tests/test_docs.py: {stale}"


def test_args_check_can_fail():
    """The check sees a missing entry, one outside ``Args:``, a starred one and a class's parameters."""
    def documented(a, b, *rest):
        """Summary.

        Args:
            a: the first.
            b (int): the second.
            *rest: the others.

        Shape: ``a: unchanged``.
        """

    def half(a, b):
        """Summary naming b: but only in prose.

        Args:
            a: the first.

        Example:
            b: is not an argument entry here.
        """

    assert documented_args(documented) == {"a", "b", "rest"} and signature_params(documented) == ["a", "b", "rest"]
    assert documented_args(half) == {"a"}
    import strided as st
    assert signature_params(st.ShapeError) == []                       # Exception's constructor: not checked
    conv_params = set(signature_params(st.nn.Conv2d))                   # an inherited __init__'s parameters
    assert "rng" in conv_params and conv_params <= documented_args(st.nn.Conv2d)


def test_every_public_object_has_an_example_and_every_layer_a_shape_section():
    """The API reference shows an example for each public class and function, and each layer's shapes."""
    import inspect
    from strided.nn import Module
    api = public_api()
    without_example = [n for n, o in api.items() if ">>>" not in (inspect.getdoc(o) or "")]
    without_shape = [n for n, o in api.items() if inspect.isclass(o) and issubclass(o, Module)
                     and "Shape:" not in (inspect.getdoc(o) or "")]
    assert not without_example, f"public objects without an example: {without_example}"
    assert not without_shape, f"modules without a Shape: section: {without_shape}"
