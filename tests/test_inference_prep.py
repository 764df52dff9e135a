"""Preparing a network for inference (``nn/fusion.py``): convolution and batch-norm folding against
PyTorch's ``torch.nn.utils.fusion`` and against PyTorch's unfolded networks; which pairs are folded
and which are left alone; frozen weights, whose kept Winograd transforms never go stale.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import strided as st
from oracle import assert_close, needs_torch, torch
from strided import fast, nn
from strided.nn.fusion import fold_batch_norms, fuse_conv_bn_weights
from strided.nn.utils import freeze, fuse_conv_bn_eval
from test_resnet import calibrate, loaded, torch_reference

CONV = {1: (nn.Conv1d, "Conv1d", "BatchNorm1d"), 2: (nn.Conv2d, "Conv2d", "BatchNorm2d"),
        3: (nn.Conv3d, "Conv3d", "BatchNorm3d")}


def random_batch_norm(bn, rng):
    """Affine parameters and running statistics away from their defaults (in place)."""
    c = bn.num_features
    bn.running_mean[...] = rng.standard_normal(c)
    bn.running_var[...] = rng.uniform(0.2, 3.0, c)
    if bn.affine:
        bn.weight.data[...] = rng.uniform(0.5, 1.5, c)
        bn.bias.data[...] = rng.standard_normal(c)
    return bn.eval()


def to_torch_pair(conv, bn, d):
    tnn = torch.nn
    tconv = getattr(tnn, CONV[d][1])(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                     conv.padding, conv.dilation, conv.groups, bias=conv.bias is not None).double().eval()
    tbn = getattr(tnn, CONV[d][2])(bn.num_features, eps=bn.eps, affine=bn.affine).double().eval()
    with torch.no_grad():
        tconv.weight.copy_(torch.from_numpy(conv.weight.data))
        if conv.bias is not None:
            tconv.bias.copy_(torch.from_numpy(conv.bias.data))
        tbn.running_mean.copy_(torch.from_numpy(bn.running_mean))
        tbn.running_var.copy_(torch.from_numpy(bn.running_var))
        if bn.affine:
            tbn.weight.copy_(torch.from_numpy(bn.weight.data))
            tbn.bias.copy_(torch.from_numpy(bn.bias.data))
    return tconv, tbn


@needs_torch
@pytest.mark.parametrize("d, bias, affine, groups", [(2, False, True, 1), (2, True, False, 2), (1, True, True, 1),
                                                     (3, False, True, 3)])
def test_fuse_conv_bn_eval_equals_torch_float64(d, bias, affine, groups):
    """The folded weight and bias equal PyTorch's ``fuse_conv_bn_eval``; the folded layer's output
    equals PyTorch's ``bn(conv(x))``."""
    rng = np.random.default_rng(d)
    conv = CONV[d][0](6, 6, 3, padding=1, groups=groups, bias=bias, rng=0)
    conv.weight.data = conv.weight.data.astype(np.float64)
    if bias:
        conv.bias.data = conv.bias.data.astype(np.float64)
    bn = random_batch_norm(getattr(nn, CONV[d][2])(6, eps=1e-3, affine=affine), rng)
    for name in ("running_mean", "running_var"):
        bn._buffers[name] = bn._buffers[name].astype(np.float64)
    if affine:
        bn.weight.data, bn.bias.data = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
    tconv, tbn = to_torch_pair(conv, bn, d)
    expected = torch.nn.utils.fusion.fuse_conv_bn_eval(tconv, tbn)
    fused = fuse_conv_bn_eval(conv, bn)
    np.testing.assert_allclose(fused.weight.data, expected.weight.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fused.bias.data, expected.bias.detach().numpy(), rtol=1e-12, atol=1e-14)
    x = rng.standard_normal((2, 6) + (5,) * d)
    with torch.no_grad():
        reference = tbn(tconv(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(fused(x).numpy(), reference, rtol=1e-10, atol=1e-10)
    assert conv.bias is None if not bias else conv.bias is not fused.bias          # the original is untouched


def test_fuse_conv_bn_weights_by_hand():
    """``s = gamma / sqrt(var + eps)``: ``W' = W s``, ``b' = (b - mean) s + beta``, worked by hand."""
    w, b = fuse_conv_bn_weights(np.full((2, 1, 1), 2.0), np.array([1.0, 3.0]), np.array([0.0, 1.0]),
                                np.array([3.0, 8.0]), 1.0, np.array([4.0, 3.0]), np.array([0.5, -1.0]))
    # s = [4 / 2, 3 / 3] = [2, 1]
    assert w.ravel().tolist() == [4.0, 2.0]
    assert b.tolist() == [2.5, 1.0]


def test_fuse_errors_name_both_layers():
    conv = nn.Conv2d(2, 4, 3, rng=0)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4.*evaluation mode"):
        fuse_conv_bn_eval(conv, nn.BatchNorm2d(4))                     # still training
    with pytest.raises(ValueError, match=r"normalises 3 channels .*Conv2d\(2, 4"):
        fuse_conv_bn_eval(conv, nn.BatchNorm2d(3).eval())
    with pytest.raises(TypeError, match="expected a batch norm layer, got ReLU"):
        fuse_conv_bn_eval(conv, nn.ReLU())
    with pytest.raises(ValueError, match="running mean has shape"):
        fuse_conv_bn_weights(np.ones((4, 2, 3, 3)), None, np.zeros(3), np.ones(4), 1e-5)
    with pytest.raises(ValueError, match="give an example input"):
        st.optimize_for_inference(nn.Sequential(conv))


# ------------------------------------------------------------------------------------------- whole models
@needs_torch
@pytest.mark.parametrize("name, batch, size", [("resnet18", 1, 224), ("resnet18", 8, 64), ("resnet20", 4, 32)])
def test_optimized_resnet_equals_torch(name, batch, size):
    """Every batch norm folded; outputs equal PyTorch's unfolded network in evaluation mode to 1e-4 of
    their scale, on the batch-1 Winograd form (224x224), the batch-last Winograd form (batch 8) and
    im2col. The original strided model keeps its layers, modes and writeable weights."""
    rng = np.random.default_rng(0)
    ref = torch_reference(name)
    calibrate(ref, torch.from_numpy(rng.standard_normal((8, 3, min(size, 64), min(size, 64))).astype(np.float32)))
    ref.eval()
    model = loaded(name, ref)
    x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    prepared = st.optimize_for_inference(model, x[:1])
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == sum(
        isinstance(m, torch.nn.BatchNorm2d) for m in ref.modules())
    assert model.training and all(p.requires_grad and p.data.flags.writeable for p in model.parameters())
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    for _ in range(2):                                                  # the second call reads the kept transforms
        with st.no_grad():
            out = prepared(x).numpy()
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


class TwoUses(nn.Module):
    """A convolution whose output feeds a batch norm and a second branch: not foldable."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class Shared(nn.Module):
    """One convolution applied twice, each time followed by a batch norm: not foldable."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn1, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4), nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn2(self.conv(self.bn1(self.conv(x))))


@needs_torch
def test_what_is_folded_and_what_is_left():
    """Folded: a batch norm straight after a convolution. Left: after a linear layer, a batch norm
    without running statistics, a convolution output used twice, a convolution applied twice; and
    their outputs are the unprepared network's (checked against PyTorch where they fold)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    chain = nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, rng=1),
                          nn.BatchNorm2d(4, track_running_stats=False), nn.Flatten(), nn.Linear(64, 5, rng=2),
                          nn.BatchNorm1d(5))
    for m in chain.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.running_mean is not None:
            random_batch_norm(m, rng)
    chain_copy = copy.deepcopy(chain)
    assert fold_batch_norms(chain_copy, x) == 1
    assert [type(m).__name__ for m in chain_copy.children()] == [
        "Conv2d", "Identity", "ReLU", "Conv2d", "BatchNorm2d", "Flatten", "Linear", "BatchNorm1d"]
    tconv, tbn = to_torch_pair(chain[0], chain[1], 2)
    with torch.no_grad():
        first = tbn.float()(tconv.float()(torch.from_numpy(x))).numpy()
    with st.no_grad():
        np.testing.assert_allclose(chain_copy[0](x).numpy(), first, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(chain_copy(x).numpy(), chain.eval()(x).numpy(), rtol=1e-5, atol=1e-5)
    for model, shape in ((TwoUses(), (2, 3, 6, 6)), (Shared(), (2, 4, 6, 6))):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                random_batch_norm(m, rng)
        x = rng.standard_normal(shape).astype(np.float32)
        prepared = st.optimize_for_inference(model, x)
        assert sum(isinstance(m, nn.BatchNorm2d) for m in prepared.modules()) == len(
            [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
        with st.no_grad():
            np.testing.assert_array_equal(prepared(x).numpy(), model.eval()(x).numpy())


# ----------------------------------------------------------------------------------------------- freezing
def test_frozen_parameters_refuse_writes_and_ask_no_gradient():
    layer = nn.Conv2d(2, 3, 3, rng=0)
    before = layer.weight.data
    frozen = freeze(layer)
    assert frozen is layer and not layer.training
    assert not layer.weight.requires_grad and layer.weight.data is not before and layer.weight.data.base is None
    with pytest.raises(ValueError, match="read-only"):
        layer.weight.data[0] = 1.0
    frozen = layer.weight.data
    assert freeze(layer).weight.data is frozen                          # frozen once: not copied again
    out = layer(np.ones((1, 2, 5, 5), dtype=np.float32))
    assert not out.requires_grad


@pytest.mark.skipif(fast.path() == "numpy", reason="the Winograd forms are on the compiled path (strided[fast])")
def test_kept_transform_follows_the_weight_array():
    """A frozen array's transform is computed once; a writeable array's at every call (so an update
    shows); a frozen array made writeable again is transformed afresh. Checked against ``G g G^T``
    written with NumPy's einsum."""
    wg = fast.kernels("winograd")
    rng = np.random.default_rng(0)

    def by_hand(w):
        return np.einsum("xa,kcab,nb->xnkc", wg.G, w.astype(np.float64), wg.G).reshape(36, *w.shape[:2])

    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    first = wg.weight_transform_of(w)
    w += 1.0                                                            # writeable: never kept
    np.testing.assert_allclose(wg.weight_transform_of(w), by_hand(w), rtol=1e-5, atol=1e-5)
    assert first is not wg.weight_transform_of(w)
    w.flags.writeable = False
    kept = wg.weight_transform_of(w)
    assert kept is wg.weight_transform_of(w) and not kept.flags.writeable
    np.testing.assert_allclose(kept, by_hand(w), rtol=1e-5, atol=1e-5)
    w.flags.writeable = True
    w *= 2.0
    np.testing.assert_allclose(wg.weight_transform_of(w), by_hand(w), rtol=1e-5, atol=1e-5)
    view = w[:2]                                                        # read-only, its base writeable:
    view.flags.writeable = False                                        # ... never kept
    first = wg.weight_transform_of(view)
    w[:2] += 1.0
    np.testing.assert_allclose(wg.weight_transform_of(view), by_hand(w[:2]), rtol=1e-5, atol=1e-5)
    assert first is not wg.weight_transform_of(view)


@pytest.mark.skipif(fast.path() == "numpy", reason="the Winograd forms are on the compiled path (strided[fast])")
def test_reused_transform_of_a_writeable_weight_follows_every_change():
    """With ``reuse`` a writeable array's transform is kept while its values stay the same bits and
    computed afresh after any change: an in-place update, one value moved by one ulp, a NaN put in
    and kept. Checked against ``G g G^T`` written with NumPy's einsum."""
    wg = fast.kernels("winograd")
    rng = np.random.default_rng(1)

    def by_hand(w):
        return np.einsum("xa,kcab,nb->xnkc", wg.G, w.astype(np.float64), wg.G).reshape(36, *w.shape[:2])

    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    first = wg.weight_transform_of(w, reuse=True)
    assert wg.weight_transform_of(w, reuse=True) is first and not first.flags.writeable
    np.testing.assert_allclose(first, by_hand(w), rtol=1e-5, atol=1e-5)
    for change in (lambda a: a.__isub__(0.5),
                   lambda a: a.__setitem__((2, 1, 0, 2), np.nextafter(a[2, 1, 0, 2], np.float32(np.inf))),
                   lambda a: a.__setitem__((0, 0, 1, 1), np.nan)):
        before = wg.weight_transform_of(w, reuse=True)
        change(w)
        after = wg.weight_transform_of(w, reuse=True)
        assert after is not before
        np.testing.assert_allclose(after, by_hand(w), rtol=1e-5, atol=1e-5)
    assert wg.weight_transform_of(w, reuse=True) is after               # NaN: the same bits, reused


@needs_torch
@pytest.mark.skipif(fast.path() == "numpy", reason="the Winograd forms are on the compiled path (strided[fast])")
def test_eval_loop_over_a_training_model_sees_each_update(monkeypatch):
    """Inference calls between optimizer steps (batch 1: the channels-last form; batch 8: the batch
    form) transform the weight once after each step and reuse it for the next call; each
    evaluation matches PyTorch's convolution with the weights of that moment."""
    wg = fast.kernels("winograd")
    computed = []
    real = wg.weight_transform
    monkeypatch.setattr(wg, "weight_transform", lambda w: computed.append(1) or real(w))
    rng = np.random.default_rng(3)
    layer = st.nn.Conv2d(128, 128, 3, padding=1, rng=0)
    opt = st.optim.SGD(layer.parameters(), lr=1e-3)
    for step in range(3):
        computed.clear()
        for n in (1, 8):
            x = rng.standard_normal((n, 128, 28, 28)).astype(np.float32)
            with st.no_grad():
                out = layer(x).numpy()
            ref = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                             torch.tensor(layer.weight.data, dtype=torch.float64),
                                             torch.tensor(layer.bias.data, dtype=torch.float64), padding=1)
            scale = float(np.abs(ref.numpy()).max())
            assert_close(out, ref.numpy(), rtol=1e-4, atol=1e-5 * scale, what=f"step {step}, batch {n}")
        assert computed == [1]                                          # the second call reused it
        opt.zero_grad()
        layer(rng.standard_normal((8, 128, 8, 8)).astype(np.float32)).sum().backward()
        opt.step()


@needs_torch
def test_frozen_resnet_loads_new_weights_without_stale_transforms():
    """``load_state_dict`` into a frozen (unfolded) ResNet-18 replaces its arrays: the batch-1 Winograd
    layers then compute with the new weights (against PyTorch with each set of weights)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    refs = [torch_reference("resnet18", seed=s).eval() for s in (0, 5)]
    model = freeze(loaded("resnet18", refs[0]))
    for ref in refs + refs[:1]:
        model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
        freeze(model)
        with torch.no_grad():
            expected = ref(torch.from_numpy(x)).numpy()
        with st.no_grad():
            np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_enable_grad_records_inside_no_grad():
    w = st.Tensor(np.array([2.0]), requires_grad=True)
    with st.no_grad():
        assert not (w * 3).requires_grad
        with st.enable_grad():
            y = w * 3
        assert not st.is_grad_enabled()
    y.backward(np.ones(1))
    assert w.grad.tolist() == [3.0]


def test_prepared_model_exports_to_onnx_without_batch_norms(tmp_path):
    """The folded network exports as convolutions with biases and no BatchNormalization node; run by
    onnxruntime, it equals the unprepared network in evaluation mode."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(3)
    model = st.models.create_model("resnet20", seed=0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            random_batch_norm(m, rng)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    path = str(tmp_path / "prepared.onnx")
    st.onnx.export(st.optimize_for_inference(model, x), path, x.shape)
    ops = {node.op_type for node in onnx.load(path).graph.node}
    assert "BatchNormalization" not in ops and "Conv" in ops
    session = ort.InferenceSession(path)
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    with st.no_grad():
        expected = model.eval()(x).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


class ScaledConv(nn.Conv2d):
    """A subclass with a forward of its own: its weight does not mean what ``Conv2d``'s does."""

    def forward(self, x):
        return super().forward(x) * 2.0


@needs_torch
def test_depthwise_and_pointwise_subclasses_fold_and_others_are_refused():
    """``DepthwiseConv2d`` and ``PointwiseConv2d`` compute as ``Conv2d`` and fold as PyTorch folds
    ``Conv2d(groups=C)`` and a 1x1 ``Conv2d``; a subclass with its own ``forward`` is refused."""
    rng = np.random.default_rng(4)
    for conv in (nn.DepthwiseConv2d(6, 3, padding=1, rng=0), nn.PointwiseConv2d(6, 6, rng=0)):
        conv.weight.data = conv.weight.data.astype(np.float64)
        conv.bias.data = conv.bias.data.astype(np.float64)
        bn = random_batch_norm(nn.BatchNorm2d(6), rng)
        for name in ("running_mean", "running_var"):
            bn._buffers[name] = bn._buffers[name].astype(np.float64)
        bn.weight.data, bn.bias.data = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
        tconv, tbn = to_torch_pair(conv, bn, 2)
        expected = torch.nn.utils.fusion.fuse_conv_bn_eval(tconv, tbn)
        fused = fuse_conv_bn_eval(conv, bn)
        np.testing.assert_allclose(fused.weight.data, expected.weight.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(fused.bias.data, expected.bias.detach().numpy(), rtol=1e-12, atol=1e-14)
    with pytest.raises(TypeError, match="got ScaledConv"):
        fuse_conv_bn_eval(ScaledConv(2, 4, 3, rng=0), nn.BatchNorm2d(4).eval())
    model = nn.Sequential(ScaledConv(3, 4, 3, rng=0), nn.BatchNorm2d(4))
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    assert fold_batch_norms(model, x) == 0


@pytest.mark.parametrize("name, size", [("mobilenet_v3_small", 64), ("efficientnet_b0", 64)])
def test_every_batch_norm_of_the_mobile_networks_folds(name, size):
    """Depthwise, pointwise and squeeze-excitation networks: every batch norm follows a convolution
    that nothing else reads, so all fold; outputs stay those of the unprepared network."""
    rng = np.random.default_rng(5)
    model = st.models.create_model(name, seed=0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            random_batch_norm(m, rng)
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    prepared = st.optimize_for_inference(model, x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    with st.no_grad():
        expected = model.eval()(x).numpy()
        np.testing.assert_allclose(prepared(x).numpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_index_inputs_reach_the_model_as_integers():
    """An example of indices (an ``Embedding`` first) is passed as it is, not made a float tensor."""
    model = nn.Sequential(nn.Embedding(10, 4, rng=0), nn.Flatten(), nn.Linear(12, 2, rng=1))
    tokens = np.array([[1, 2, 3], [4, 5, 9]])
    prepared = st.optimize_for_inference(model, tokens)
    with st.no_grad():
        np.testing.assert_array_equal(prepared(tokens).numpy(), model.eval()(tokens).numpy())
