"""nn.meta(): shape-only models for analysis. Oracles: torchvision's published parameter counts and
GMACs, the memory tracemalloc sees, the generator's untouched stream, a real model's forward."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.models import create_model


def build_peak(build):
    """(result, peak bytes Python allocated) of ``build()``."""
    tracemalloc.start()
    try:
        model = build()
        return model, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name, params, gmacs", [
    ("vgg16", 138_357_544, 15.47),          # torchvision: 138,357,544 params, 15.47 GFLOPS
    ("resnet50", 25_557_032, 4.09),         # torchvision: 25,557,032 params, 4.09 GFLOPS
])
def test_meta_model_has_published_counts_and_takes_no_memory(name, params, gmacs):
    model, peak = build_peak(lambda: create_model(name, meta=True))
    assert peak < 4 * 2 ** 20                                           # a real vgg16 holds 553 MB of float32
    assert model.num_parameters() == params
    result = st.summary(model, (1, 3, 224, 224))
    assert result.params == params and round(result.macs / 1e9, 2) == gmacs
    assert result.output_shape == (1, 1000)
    for _, param in model.named_parameters():
        assert nn.is_meta(param) and not param.data.flags.writeable and not any(param.data.strides)
    assert all(nn.is_meta(buf) for _, buf in model.named_buffers())
    assert nn.is_meta(model)


def test_meta_and_real_builds_agree_on_every_row():
    real = st.summary(create_model("resnet18", seed=0), (2, 3, 64, 64))
    meta = st.summary(create_model("resnet18", meta=True), (2, 3, 64, 64))
    assert [r.to_dict() for r in meta.rows] == [r.to_dict() for r in real.rows]
    assert meta.params == real.params == 11_689_512                     # torchvision resnet18


def test_forward_of_a_meta_model_fails_naming_meta():
    model = create_model("lenet5", meta=True)
    with pytest.raises(RuntimeError, match=r"Conv2d\(1, 6, .*meta \(built under strided.nn.meta\(\)"):
        model(np.zeros((1, 1, 32, 32), dtype=np.float32))
    with nn.meta():
        chain = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU())             # a fused pair is refused too
    assert chain[0].fuse_with(chain[1]) is not None
    with pytest.raises(RuntimeError, match="BatchNorm2d.*meta"):
        chain(np.zeros((1, 2, 3, 3), dtype=np.float32))


@pytest.mark.parametrize("optimizer", [lambda p: st.optim.SGD(p, lr=0.1), lambda p: st.optim.Adam(p)])
def test_an_optimizer_refuses_meta_parameters(optimizer):
    model = create_model("lenet5", meta=True)
    with pytest.raises(RuntimeError, match=r"a parameter of shape \(6, 1, 5, 5\) is meta.*cannot be trained"):
        optimizer(model.parameters())


def test_building_under_meta_draws_nothing():
    st.manual_seed(0)
    with nn.meta():
        nn.Conv2d(3, 8, 3)
        nn.Linear(10, 10)
        nn.Embedding(5, 3)
        create_model("alexnet")
    assert st.random.default_generator().random() == np.random.default_rng(0).random()


def test_loading_real_weights_gives_a_meta_model_values():
    real = create_model("lenet5", seed=1)
    model = create_model("lenet5", meta=True)
    model.load_state_dict(real.state_dict())
    assert not nn.is_meta(model)
    x = np.random.default_rng(2).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(model(x).data, real(x).data)


def test_state_dict_dtype_and_init_keep_meta():
    with nn.meta():
        layer = nn.Conv2d(64, 128, 3)
        norm = nn.BatchNorm2d(8)
    state = layer.state_dict()
    assert state["weight"].shape == (128, 64, 3, 3) and nn.is_meta(state["weight"])     # not copied
    layer.double()
    assert layer.weight.dtype == np.float64 and nn.is_meta(layer.weight)
    assert norm.running_var.shape == (8,) and nn.is_meta(norm.running_var)
    for fill in (nn.init.zeros_, nn.init.kaiming_normal_, nn.init.orthogonal_, lambda t: nn.init.constant_(t, 2.0)):
        assert fill(layer.weight) is layer.weight and nn.is_meta(layer.weight)
    with nn.meta():
        with nn.meta(False):
            real = nn.Linear(3, 2, rng=0)
    assert not nn.is_meta(real) and np.count_nonzero(real.weight.data) == 6
    assert not nn.init.zeros_(real.weight).data.any()                   # a real tensor is still filled


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS read from /proc (Linux)")
def test_cli_summary_is_fast_and_small():
    # before shape-only builds: 5 s and 1 GB peak RSS here (17 s elsewhere), mostly drawing 138M weights
    # the child's own peak RSS: VmHWM belongs to its address space (ru_maxrss would count the forked pytest)
    code = ("import sys; from strided.cli import main; code = main(sys.argv[1:]); "
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')]; "
            "print('peak_kb', hwm[0] if hwm else 0, file=sys.stderr); sys.exit(code)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "summary", "vgg16", "--input", "3x224x224"],
                          capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert "params: 138,357,544" in done.stdout and "MACs: 15,470,264,320" in done.stdout
    peak_mb = int(done.stderr.split("peak_kb")[-1]) / 1024
    assert peak_mb < 200, peak_mb                                       # the weights alone are 553 MB
    assert elapsed < 4.0, elapsed
