"""``st.set_num_threads`` / ``st.get_num_threads`` and the ``--threads`` option of the commands.

Oracle: threadpoolctl's own view of the BLAS pools (``threadpool_info``), not strided's answer;
without threadpoolctl (simulated by hiding the module) the environment variables the BLAS reads.
Each test restores the thread count it found, so the rest of the session keeps its setting.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import strided as st
from strided import threads

threadpoolctl = pytest.importorskip("threadpoolctl", reason='needs threadpoolctl: pip install "strided[fast]"')


def blas_threads() -> list[int]:
    """Each loaded BLAS pool's thread count, as threadpoolctl sees it."""
    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def restore_threads(monkeypatch):
    before = threadpoolctl.threadpool_info()
    monkeypatch.setattr(threads, "_own_threads", threads.own_threads())      # strided's own, restored too
    yield
    for pool in before:
        if pool["user_api"] == "blas":
            threadpoolctl.threadpool_limits(limits=pool["num_threads"], user_api="blas")


@pytest.fixture
def without_threadpoolctl(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)      # import threadpoolctl raises ImportError


def test_set_then_get_round_trip_seen_by_threadpoolctl(restore_threads):
    assert blas_threads(), "NumPy's BLAS should be visible to threadpoolctl"
    most = max(blas_threads())                 # the BLAS may refuse more threads than it started with
    for n in (1, most, 1):
        st.set_num_threads(n)
        assert blas_threads() == [n] * len(blas_threads())
        assert st.get_num_threads() == n


def test_numpy_int_accepted_and_products_still_right(restore_threads):
    st.set_num_threads(np.int64(1))
    assert blas_threads()[0] == 1
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    expected = [[sum(a[i, k] * a[j, k] for k in range(4)) for j in range(3)] for i in range(3)]   # naive loop
    np.testing.assert_allclose(a @ a.T, expected)


def openblas_libraries():
    """ctypes handles of each OpenBLAS threadpoolctl finds (its own ``openblas_thread_timeout`` getter)."""
    import ctypes
    controllers = threadpoolctl.ThreadpoolController().lib_controllers
    return [ctypes.CDLL(c.filepath) for c in controllers if c.internal_api == "openblas"]


def test_set_sets_strided_own_threads(restore_threads):
    st.set_num_threads(1)
    assert threads.own_threads() == 1
    st.set_num_threads(2)
    assert threads.own_threads() == 2
    st.set_num_threads(1)
    assert threads.own_threads() == 1


def test_more_threads_shorten_openblass_spin(restore_threads, monkeypatch):
    libraries = [lib for lib in openblas_libraries() if hasattr(lib, "openblas_thread_timeout")]
    if not libraries:
        pytest.skip("no OpenBLAS with openblas_thread_timeout loaded")
    monkeypatch.delenv(threads.SPIN_VAR, raising=False)
    st.set_num_threads(2)
    counts = blas_threads()
    assert [lib.openblas_thread_timeout() for lib in libraries] == [threads.OPENBLAS_SPIN] * len(libraries)
    assert threads.SPIN_VAR not in os.environ                   # set for OpenBLAS's reading only
    a = np.random.default_rng(0).standard_normal((300, 200)).astype(np.float32)
    np.testing.assert_allclose(a @ a.T, a.astype(np.float64) @ a.T.astype(np.float64), rtol=1e-4, atol=1e-3)
    assert blas_threads() == counts                          # the restarted threads keep the count set


def test_a_spin_set_by_the_user_is_left_alone(restore_threads, monkeypatch):
    libraries = [lib for lib in openblas_libraries() if hasattr(lib, "openblas_thread_timeout")]
    if not libraries:
        pytest.skip("no OpenBLAS with openblas_thread_timeout loaded")
    before = [lib.openblas_thread_timeout() for lib in libraries]
    monkeypatch.setenv(threads.SPIN_VAR, "25")
    st.set_num_threads(2)
    assert [lib.openblas_thread_timeout() for lib in libraries] == before


def test_get_reports_threadpoolctls_figure():
    assert st.get_num_threads() == max(blas_threads())


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError), ("2", TypeError),
                                        (True, TypeError), (None, TypeError)])
def test_bad_values_give_named_errors(bad, error, restore_threads):
    before = blas_threads()
    with pytest.raises(error, match="set_num_threads: expected a positive int"):
        st.set_num_threads(bad)
    assert blas_threads() == before        # nothing changed


def test_without_threadpoolctl_set_names_the_extra(without_threadpoolctl):
    with pytest.raises(ImportError, match=r"set_num_threads needs threadpoolctl.*strided\[fast\]"):
        st.set_num_threads(1)


@pytest.mark.parametrize("env, expected", [({"OPENBLAS_NUM_THREADS": "3"}, 3),
                                           ({"OPENBLAS_NUM_THREADS": "x", "OMP_NUM_THREADS": "5"}, 5),
                                           ({"MKL_NUM_THREADS": "4"}, 4)])
def test_without_threadpoolctl_get_reads_the_environment(without_threadpoolctl, monkeypatch, env, expected):
    for var in threads.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert st.get_num_threads() == expected


def test_without_threadpoolctl_or_variables_get_is_the_cpu_count(without_threadpoolctl, monkeypatch):
    for var in threads.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    assert st.get_num_threads() == os.cpu_count()


def test_import_changes_no_threads():
    import subprocess
    code = ("import threadpoolctl, numpy; before = threadpoolctl.threadpool_info(); import strided; "
            "assert threadpoolctl.threadpool_info() == before; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"


# ----------------------------------------------------------------------------------- command line
def test_threads_option_on_the_commands_that_compute():
    from strided.cli import build_parser
    parser = build_parser()
    for command in ("train", "eval", "predict"):
        argv = [command] + {"train": [], "eval": ["run"], "predict": ["run", "x.npy"]}[command] + ["--threads", "1"]
        assert parser.parse_args(argv).threads == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--threads", "0"])
    assert not hasattr(parser.parse_args(["models"]), "threads")


def test_threads_option_sets_the_blas_pool(monkeypatch, restore_threads):
    from strided import cli
    seen = []
    monkeypatch.setattr(cli, "_train", lambda args: seen.append(blas_threads()) or 0)
    st.set_num_threads(max(blas_threads()))
    assert cli.main(["train", "--threads", "1"]) == 0
    assert seen == [[1] * len(seen[0])]


def test_threads_option_without_threadpoolctl_is_a_usage_error(without_threadpoolctl, monkeypatch, capsys):
    from strided import cli
    monkeypatch.setattr(cli, "_train", lambda args: pytest.fail("ran without setting the threads"))
    assert cli.main(["train", "--threads", "1"]) == 2
    assert 'strided train: error: --threads: strided.set_num_threads needs threadpoolctl' in capsys.readouterr().err


def test_commands_without_the_option_give_strided_the_blass_threads(monkeypatch, restore_threads):
    from strided import cli
    seen = []
    monkeypatch.setattr(cli, "_train", lambda args: seen.append((threads.own_threads(), max(blas_threads()))) or 0)
    st.set_num_threads(1)
    threadpoolctl.threadpool_limits(limits=2, user_api="blas")    # the BLAS at two, strided's own still at one
    assert cli.main(["train"]) == 0
    assert seen == [(max(blas_threads()), max(blas_threads()))]
