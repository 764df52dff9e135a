"""strided ships ``py.typed``: a small typed user script passes ``mypy --strict``.

The script builds a model, trains a step, summarises it, saves and loads a checkpoint, and trains
a zoo model with ``fit``; mypy checks the script against strided's annotations (strided's own
modules are read for their types, ``--follow-imports=silent``, not checked). A second script with
a deliberate type error must fail, which shows that mypy sees strided's types rather than ``Any``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

import strided

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason='mypy is not installed (it is in the test extra: pip install -e ".[test]")')

SRC = os.path.dirname(os.path.dirname(os.path.abspath(strided.__file__)))

USER_SCRIPT = '''
"""A typed user script: build a model, train a step, save and load."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import strided as st
import strided.nn.functional as F
from strided import nn


def build() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding="same", rng=0), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 14 * 14, 10, rng=1),
    )


def train_step(model: nn.Module, opt: st.optim.Optimizer, x: npt.NDArray[np.float32],
               y: npt.NDArray[np.int64]) -> float:
    logits: st.Tensor = model(x)
    loss: st.Tensor = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.data)


def fit_zoo_model(x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> list[dict[str, float]]:
    model: nn.Module = st.models.create_model("lenet5", num_classes=10, seed=0)
    opt = st.optim.Adam(model.parameters(), lr=1e-3)
    sched = st.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    loader = st.data.DataLoader(st.data.ArrayDataset(x, y), batch_size=4, shuffle=True, seed=0)
    return st.train.fit(model, loader, optimizer=opt, scheduler=sched, epochs=1, progress=False)


def main() -> None:
    st.manual_seed(0)
    model = build()
    opt = st.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    y = np.array([1, 2, 3, 4], dtype=np.int64)
    value: float = train_step(model, opt, x, y)
    shape: tuple[int, ...] = model.output_shape((4, 1, 28, 28))
    summary: st.analysis.Summary = st.summary(model, (1, 1, 28, 28))
    params: int = summary.params
    st.save({"model": model.state_dict(), "opt": opt.state_dict()}, "ckpt.npz")
    state = st.load("ckpt.npz")
    model.load_state_dict(state["model"])
    with st.no_grad():
        out = model(x)
    history = fit_zoo_model(np.zeros((8, 1, 32, 32), np.float32), np.zeros(8, np.int64))
    print(value, shape, params, out.shape, len(history))


if __name__ == "__main__":
    main()
'''

WRONG_SCRIPT = '''
import strided as st
from strided import nn

summary = st.summary(nn.Linear(3, 2, rng=0), (1, 3))
summary.params.upper()
'''


def run_mypy(tmp_path, name: str, source: str) -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    env = {**os.environ, "MYPYPATH": SRC}
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
                           "--cache-dir", os.devnull, str(path)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)


def test_package_ships_py_typed():
    assert os.path.isfile(os.path.join(os.path.dirname(strided.__file__), "py.typed"))


def test_user_script_passes_mypy_strict(tmp_path):
    done = run_mypy(tmp_path, "user_script.py", USER_SCRIPT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_user_script_runs(tmp_path, monkeypatch):
    """The script mypy accepts also runs (so it is a real use of the API, not a type puzzle)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "user_script"}
    exec(compile(USER_SCRIPT, "user_script.py", "exec"), namespace)
    namespace["main"]()
    assert (tmp_path / "ckpt.npz").exists()


def test_mypy_sees_strided_types(tmp_path):
    done = run_mypy(tmp_path, "wrong.py", WRONG_SCRIPT)
    assert done.returncode == 1 and '"int" has no attribute "upper"' in done.stdout, done.stdout + done.stderr
