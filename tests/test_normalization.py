"""Layer, group and instance normalisation against PyTorch (float64), and their argument errors.

Forward, input gradient and weight/bias gradients through ``check_against_torch`` (functional
ops) and ``check_module_against_torch`` (modules, state dicts copied 1:1); instance norm's running
statistics after a few training steps and its evaluation mode; central differences where no
PyTorch is needed.
"""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from module_oracle import check_module_against_torch
from oracle import TF, assert_close, check_against_torch, check_gradients, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField


def perturbed(module, seed=0):
    """Move a module's parameters off their initial ones and zeros (which hide mistakes)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data = (p.data + 0.5 * rng.standard_normal(p.shape)).astype(p.data.dtype)
    return module


# --------------------------------------------------------------------------------------------- layer norm

LAYER_NORM_CASES = [((2, 3, 4, 5), 5), ((2, 3, 4, 5), (4, 5)), ((2, 3, 4, 5), (3, 4, 5)), ((6, 7), [7]),
                    ((4,), 4), ((3, 1, 6), (1, 6))]


@needs_torch
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("shape, normalized_shape", LAYER_NORM_CASES)
def test_layer_norm_matches_torch(shape, normalized_shape, affine):
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    w = ns if affine != "none" else None
    b = ns if affine == "both" else None
    check_against_torch(lambda x, w, b: F.layer_norm(x, normalized_shape, w, b, eps=1e-3),
                        lambda x, w, b: TF.layer_norm(x, ns, w, b, eps=1e-3), inputs=[shape, w, b])


@needs_torch
@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"elementwise_affine": False}, {"eps": 0.1}])
def test_layer_norm_module_matches_torch(kwargs):
    ours = perturbed(nn.LayerNorm((4, 5), **kwargs))
    check_module_against_torch(ours, torch.nn.LayerNorm((4, 5), **kwargs), (3, 2, 4, 5))
    assert ours.cost((3, 2, 4, 5)).params == sum(p.size for p in ours.parameters())


def test_layer_norm_gradients_by_central_differences():
    layer = perturbed(nn.LayerNorm((3, 4)).double())
    check_gradients(layer, [(2, 3, 4)], params=list(layer.parameters()))


def test_layer_norm_output_is_normalised():
    x = 5 + 3 * np.random.default_rng(0).standard_normal((4, 6, 7))
    y = F.layer_norm(st.Tensor(x, dtype=np.float64), (6, 7), eps=0.0).data
    assert_close(y.mean(axis=(1, 2)), np.zeros(4), atol=1e-12)
    assert_close(y.var(axis=(1, 2)), np.ones(4), atol=1e-12)


def test_layer_norm_errors_name_the_layer_and_input():
    layer = nn.LayerNorm((4, 5))
    with pytest.raises(st.ShapeError, match=r"LayerNorm\(\(4, 5\).*expected input \(\*, 4, 5\), got \(2, 5, 4\)"):
        layer(np.zeros((2, 5, 4), dtype=np.float32))
    with pytest.raises(st.ShapeError, match=r"LayerNorm.*got \(5,\)"):
        layer.output_shape((5,))
    with pytest.raises(TypeError, match="LayerNorm: normalized_shape must be an int or a non-empty tuple"):
        nn.LayerNorm(4.0)
    with pytest.raises(TypeError, match="normalized_shape"):
        nn.LayerNorm(())
    with pytest.raises(ValueError, match="positive"):
        nn.LayerNorm((3, 0))
    with pytest.raises(st.ShapeError, match=r"layer_norm: expected weight \(4,\), got \(5,\)"):
        F.layer_norm(np.zeros((2, 4)), 4, np.ones(5))


def test_layer_norm_receptive_field_covers_the_normalised_axes_only():
    """Over W only: each output sees its whole row (a window of 2W-1 centred on it), one row in H."""
    rf = nn.LayerNorm(5).receptive_field(ReceptiveField.identity(2), (2, 3, 4, 5))
    assert (rf.size, rf.jump, rf.start) == ((1, 9), (1, 1), (0.0, 0.0))
    rf = nn.LayerNorm((3, 4, 5)).receptive_field(ReceptiveField.identity(2), (2, 3, 4, 5))
    assert rf.size == (7, 9)


# --------------------------------------------------------------------------------------------- group norm

GROUP_CASES = [((2, 6, 5), 1), ((2, 6, 5), 2), ((2, 6, 3, 4), 3), ((2, 6, 3, 4), 6), ((1, 4, 2, 3, 2), 2),
               ((3, 6), 2)]


@needs_torch
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape, groups", GROUP_CASES)
def test_group_norm_matches_torch(shape, groups, affine):
    c = (shape[1],) if affine else None
    check_against_torch(lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-4),
                        lambda x, w, b: TF.group_norm(x, groups, w, b, eps=1e-4), inputs=[shape, c, c])


@needs_torch
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_module_matches_torch(affine):
    for training in (True, False):   # no running statistics: evaluation computes the same
        ours = perturbed(nn.GroupNorm(3, 6, affine=affine)).train(training)
        theirs = torch.nn.GroupNorm(3, 6, affine=affine).train(training)
        check_module_against_torch(ours, theirs, (2, 6, 4, 3))


def test_group_norm_with_one_group_per_channel_is_instance_norm():
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 2))
    a = F.group_norm(st.Tensor(x, dtype=np.float64), 4).data
    b = F.instance_norm(st.Tensor(x, dtype=np.float64)).data
    assert_close(a, b)
    mean = x.mean(axis=(2, 3), keepdims=True)   # the definition, written out
    assert_close(a, (x - mean) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5))


def test_group_norm_gradients_by_central_differences():
    layer = perturbed(nn.GroupNorm(2, 4).double())
    check_gradients(layer, [(2, 4, 3)], params=list(layer.parameters()))


def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(TypeError, match="GroupNorm: num_groups must be a positive int, got 2.0"):
        nn.GroupNorm(2.0, 6)
    with pytest.raises(st.ShapeError, match=r"GroupNorm\(2, 6.*expected input \(N, 6, \*\), got \(2, 4, 3\)"):
        nn.GroupNorm(2, 6)(np.zeros((2, 4, 3), dtype=np.float32))
    with pytest.raises(st.ShapeError, match=r"group_norm: expected input \(N, C, \*\) with C divisible by "
                                             r"num_groups \(4\), got \(2, 6, 3\)"):
        F.group_norm(np.zeros((2, 6, 3)), 4)


# --------------------------------------------------------------------------------------------- instance norm


@needs_torch
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 3), (1, 2, 2, 3, 2)], ids=["1d", "2d", "3d"])
def test_instance_norm_matches_torch(shape, affine):
    c = (shape[1],) if affine else None
    check_against_torch(lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-4),
                        lambda x, w, b: TF.instance_norm(x, weight=w, bias=b, eps=1e-4), inputs=[shape, c, c])


@needs_torch
@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_functional_running_statistics_match_torch(use_input_stats):
    rng = np.random.default_rng(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    ours_mean, ours_var = mean.copy(), var.copy()
    theirs_mean, theirs_var = torch.tensor(mean), torch.tensor(var)
    check_against_torch(
        lambda x, w, b: F.instance_norm(x, ours_mean, ours_var, w, b, use_input_stats, momentum=0.3),
        lambda x, w, b: TF.instance_norm(x, theirs_mean, theirs_var, w, b, use_input_stats, momentum=0.3),
        inputs=[(4, 3, 5, 2), (3,), (3,)])
    assert_close(ours_mean, theirs_mean.numpy(), what="running_mean")
    assert_close(ours_var, theirs_var.numpy(), what="running_var")
    assert np.allclose(ours_mean, mean) != use_input_stats   # updated exactly when the input's statistics are used


INSTANCE_CLASSES = [(nn.InstanceNorm1d, "InstanceNorm1d", (4, 3, 6)), (nn.InstanceNorm2d, "InstanceNorm2d", (4, 3, 3, 4)),
                    (nn.InstanceNorm3d, "InstanceNorm3d", (2, 3, 2, 3, 2))]


@needs_torch
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("cls, torch_name, shape", INSTANCE_CLASSES, ids=["1d", "2d", "3d"])
def test_instance_norm_running_statistics_and_eval_match_torch(cls, torch_name, shape, affine, momentum):
    """Three training steps (running statistics compared), then evaluation with those statistics."""
    ours = perturbed(cls(3, momentum=momentum, affine=affine, track_running_stats=True)).double()
    theirs = getattr(torch.nn, torch_name)(3, momentum=momentum, affine=affine, track_running_stats=True).double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(4)
    for step in range(3):
        x = 2 + 3 * rng.standard_normal(shape)
        assert_close(ours(x).data, theirs(torch.from_numpy(x)).detach().numpy(), what=f"training step {step}")
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert_close(value, theirs_state[key].numpy(), what=key)
    assert np.allclose(ours.running_var, 1.0) == (momentum is None)   # momentum=None: PyTorch uses 0.0
    ours.eval()
    theirs.eval()
    check_module_against_torch(ours, theirs, shape, seed=5)   # eval: the running statistics normalise


@needs_torch
@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("cls, torch_name, shape", INSTANCE_CLASSES, ids=["1d", "2d", "3d"])
def test_instance_norm_unbatched_input_matches_torch(cls, torch_name, shape, track):
    ours = perturbed(cls(3, affine=True, track_running_stats=track))
    theirs = getattr(torch.nn, torch_name)(3, affine=True, track_running_stats=track)
    out = check_module_against_torch(ours, theirs, shape[1:])
    assert out.shape == shape[1:] == ours.output_shape(shape[1:])
    if track:
        assert_close(ours.running_mean, theirs.running_mean.numpy(), what="running_mean after an unbatched step")


@needs_torch
def test_instance_norm_module_defaults_match_torch():
    ours, theirs = nn.InstanceNorm2d(4), torch.nn.InstanceNorm2d(4)
    assert (ours.eps, ours.momentum, ours.affine, ours.track_running_stats) == (
        theirs.eps, theirs.momentum, theirs.affine, theirs.track_running_stats)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    check_module_against_torch(ours.eval(), theirs.eval(), (2, 4, 3, 3))   # eval without running stats: own stats


def test_instance_norm_gradients_by_central_differences():
    layer = perturbed(nn.InstanceNorm2d(2, affine=True)).double()
    check_gradients(layer, [(2, 2, 3, 2)], params=list(layer.parameters()))
    layer = perturbed(nn.InstanceNorm1d(2, affine=True, track_running_stats=True)).double().eval()
    layer.running_mean[:] = [0.5, -1.0]
    layer.running_var[:] = [2.0, 0.3]
    check_gradients(layer, [(3, 2, 4)], params=list(layer.parameters()))


def test_instance_norm_errors():
    with pytest.raises(st.ShapeError, match=r"InstanceNorm2d\(3, .*expected input \(N, 3, H, W\) or \(3, H, W\), "
                                             r"got \(2, 3, 4\)"):
        nn.InstanceNorm2d(3)(np.zeros((2, 3, 4), dtype=np.float32))
    with pytest.raises(st.ShapeError, match=r"InstanceNorm1d.*got \(2, 4, 5\)"):
        nn.InstanceNorm1d(3).output_shape((2, 4, 5))
    with pytest.raises(ValueError, match=r"InstanceNorm1d.*more than 1 spatial element.*got input \(2, 3, 1\)"):
        nn.InstanceNorm1d(3)(np.zeros((2, 3, 1), dtype=np.float32))
    nn.InstanceNorm1d(3, track_running_stats=True).eval()(np.zeros((2, 3, 1), dtype=np.float32))   # fine in eval
    with pytest.raises(TypeError, match="InstanceNorm3d: num_features must be a positive int"):
        nn.InstanceNorm3d(True)
    with pytest.raises(ValueError, match="instance_norm: running_mean and running_var are needed"):
        F.instance_norm(np.zeros((2, 3, 4)), use_input_stats=False)


def test_instance_norm_receptive_field_follows_its_statistics():
    """The input's own statistics: the whole map; running statistics (inference): one position."""
    rf = nn.InstanceNorm2d(3).receptive_field(ReceptiveField.identity(2), (1, 3, 4, 6))
    assert (rf.size, rf.jump, rf.start) == ((7, 11), (1, 1), (0.0, 0.0))
    tracked = nn.InstanceNorm2d(3, track_running_stats=True)
    assert tracked.receptive_field(ReceptiveField.identity(2), (1, 3, 4, 6)) == ReceptiveField.identity(2)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, torch_make, shape", [
    (lambda: nn.GroupNorm(3, 6), lambda: torch.nn.GroupNorm(3, 6), (4, 6, 5, 7)),
    (lambda: nn.GroupNorm(2, 4, affine=False), lambda: torch.nn.GroupNorm(2, 4, affine=False), (3, 4, 2, 3, 4)),
    (lambda: nn.InstanceNorm2d(5, affine=True, track_running_stats=True),
     lambda: torch.nn.InstanceNorm2d(5, affine=True, track_running_stats=True), (3, 5, 6, 4)),
], ids=["group", "group3d", "instance"])
def test_group_and_instance_norm_of_a_batch_last_input(compute_path, make, torch_make, shape, dtype):
    """A convolution's batch-last output: output, input and parameter gradients and running
    statistics against PyTorch; output and input gradient stay batch-last (on the compiled path
    the kernels of ``fast/group_norm.py`` take it, on NumPy the rows)."""
    from strided.windows import batch_last, to_batch_last
    ours, theirs = perturbed(make()), torch_make()
    if dtype == np.float64:
        ours, theirs = ours.double(), theirs.double()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(8)
    x = (2 + 3 * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    xs = st.Tensor(to_batch_last(x), requires_grad=True)
    y = ours(xs)
    y.backward(to_batch_last(g))
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **tol)
    for p, (name, q) in zip(ours.parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), err_msg=name, **tol)
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, theirs.state_dict()[key].numpy(), err_msg=key, **tol)
    if compute_path == "numba":
        assert batch_last(y.data) and batch_last(xs.grad)
