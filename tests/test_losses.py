"""Every loss of ``strided.nn.functional`` and ``strided.nn`` against PyTorch in float64.

Each oracle case compares the forward value and the gradient of every floating input for a
random upstream gradient: the input's always, the target's wherever PyTorch differentiates it
(class probabilities, binary cross-entropy, KL divergence, the regression losses). Class
indices and weights are constants (``Const``) on both sides. Without PyTorch the central
difference, hand-computed and error-message tests below still run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from oracle import Const, TF, assert_close, check_against_torch, check_gradients, needs_torch, torch
from strided import nn
from expect import raises

pytestmark = [pytest.mark.usefixtures("single_threaded_torch"),
              pytest.mark.filterwarnings("ignore:reduction. .mean. divides the total loss")]

REDUCTIONS = ["mean", "sum", "none"]
# logits shapes: batched, spatial 1-d and 2-d (segmentation), unbatched
CLASS_SHAPES = [(5, 4), (3, 4, 6), (2, 3, 4, 5), (4,)]


def labels_for(shape, seed, ignore_index=None, classes=None):
    """Class indices for logits ``shape`` (class axis 1, or 0 unbatched), a few set to ``ignore_index``."""
    rng = np.random.default_rng(seed)
    classes = shape[1] if len(shape) > 1 else shape[0]
    target_shape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    y = rng.integers(0, classes, target_shape)
    if ignore_index is not None and y.ndim:
        y.reshape(-1)[::3] = ignore_index
    return y


def probabilities(shape, seed, axis):
    p = np.random.default_rng(seed).random(shape) + 0.05
    return p / p.sum(axis=axis, keepdims=True)


def class_weight(shape, seed):
    classes = shape[1] if len(shape) > 1 else shape[0]
    return np.random.default_rng(seed).random(classes) + 0.25


# ------------------------------------------------------------------------------------------ cross_entropy
@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("ignore_index", [-100, 1], ids=["default_ignore", "ignore_1"])
def test_cross_entropy_class_indices(reduction, shape, weighted, label_smoothing, ignore_index):
    y = labels_for(shape, 1, ignore_index=ignore_index)
    w = Const(class_weight(shape, 2)) if weighted else None
    kwargs = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    check_against_torch(lambda z, y, w: F.cross_entropy(z, y, w, **kwargs),
                        lambda z, y, w: TF.cross_entropy(z, y, w, **kwargs), [shape, Const(y), w], seed=3)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_class_probabilities(reduction, shape, weighted, label_smoothing):
    """A target of the logits' shape holds probabilities, and PyTorch differentiates it."""
    q = probabilities(shape, 4, axis=1 if len(shape) > 1 else 0)
    w = Const(class_weight(shape, 5)) if weighted else None
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    check_against_torch(lambda z, q, w: F.cross_entropy(z, q, w, **kwargs),
                        lambda z, q, w: TF.cross_entropy(z, q, w, **kwargs), [shape, q, w], seed=6)


@needs_torch
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("kind", ["indices", "probabilities"])
def test_cross_entropy_extreme_logits_stay_finite(kind, label_smoothing):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((6, 5, 2)) * 1e4
    target = Const(rng.integers(0, 5, (6, 2))) if kind == "indices" else probabilities((6, 5, 2), 8, axis=1)
    w = Const(rng.random(5) + 0.5)
    kwargs = dict(label_smoothing=label_smoothing)
    out, _ = check_against_torch(lambda z, t, w: F.cross_entropy(z, t, w, **kwargs),
                                 lambda z, t, w: TF.cross_entropy(z, t, w, **kwargs), [z, target, w],
                                 rtol=1e-12, atol=1e-8)
    assert np.all(np.isfinite(out))


@needs_torch
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_every_target_ignored_is_nan_with_zero_gradient(label_smoothing):
    """'mean' over no counted target is 0/0 in PyTorch: NaN, and a zero gradient."""
    z = st.Tensor(np.random.default_rng(9).standard_normal((3, 4)), dtype=np.float64, requires_grad=True)
    loss = F.cross_entropy(z, np.full(3, -100), label_smoothing=label_smoothing)
    ref = torch.tensor(z.data, requires_grad=True)
    ref_loss = TF.cross_entropy(ref, torch.full((3,), -100), label_smoothing=label_smoothing)
    assert math.isnan(loss.item()) and math.isnan(ref_loss.item())
    loss.backward()
    ref_loss.backward()
    assert_close(z.grad, ref.grad.numpy(), what="gradient")


def test_cross_entropy_hand_values():
    """Uniform logits cost log C; smoothing with uniform logits changes nothing; an ignored target costs 0."""
    z = st.Tensor(np.zeros((2, 4)), dtype=np.float64)
    assert F.cross_entropy(z, np.array([1, 3])).item() == pytest.approx(math.log(4), rel=1e-14)
    assert F.cross_entropy(z, np.array([1, 3]), label_smoothing=0.5).item() == pytest.approx(math.log(4), rel=1e-14)
    none = F.cross_entropy(z, np.array([1, -100]), reduction="none").data
    assert none[1] == 0 and none[0] == pytest.approx(math.log(4), rel=1e-14)
    # weights: mean = sum(w[y] * loss) / sum(w[y]); with equal losses that is the loss itself
    assert F.cross_entropy(z, np.array([0, 2]), np.array([1.0, 0, 3, 0])).item() == pytest.approx(math.log(4))


def test_cross_entropy_gradients_central_differences():
    y = labels_for((2, 3, 4), 10, ignore_index=-100)
    w = class_weight((2, 3, 4), 11)
    check_gradients(lambda z: F.cross_entropy(z, y, w, label_smoothing=0.2), [(2, 3, 4)], seed=12)
    check_gradients(lambda z, q: F.cross_entropy(z, q, w, reduction="none", label_smoothing=0.1),
                    [(2, 3, 4), probabilities((2, 3, 4), 13, axis=1)], seed=14)


def test_cross_entropy_float32_stays_float32():
    z = st.Tensor(np.random.default_rng(15).standard_normal((4, 3, 2)), requires_grad=True, dtype=np.float32)
    loss = F.cross_entropy(z, np.zeros((4, 2), dtype=np.int64), np.ones(3), label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == np.float32 and z.grad.dtype == np.float32


# ------------------------------------------------------------------------------------------ nll_loss
@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore_index", [-100, 0], ids=["default_ignore", "ignore_0"])
def test_nll_loss(reduction, shape, weighted, ignore_index):
    y = labels_for(shape, 16, ignore_index=ignore_index)
    w = Const(class_weight(shape, 17)) if weighted else None
    kwargs = dict(ignore_index=ignore_index, reduction=reduction)
    check_against_torch(lambda x, y, w: F.nll_loss(x, y, w, **kwargs),
                        lambda x, y, w: TF.nll_loss(x, y, w, **kwargs), [shape, Const(y), w], seed=18)


def test_nll_loss_of_log_softmax_is_cross_entropy():
    z = np.random.default_rng(19).standard_normal((3, 5, 2))
    y = labels_for((3, 5, 2), 20, ignore_index=-100)
    w = class_weight((3, 5, 2), 21)
    nll = F.nll_loss(F.log_softmax(st.Tensor(z, dtype=np.float64), 1), y, w)
    assert nll.item() == pytest.approx(F.cross_entropy(st.Tensor(z, dtype=np.float64), y, w).item(), rel=1e-12)


# ------------------------------------------------------------------------------------------ multi_margin_loss
@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(6, 4), (5,)])
def test_multi_margin_loss(reduction, p, margin, weighted, shape):
    y = labels_for(shape, 22)
    w = Const(class_weight(shape, 23)) if weighted else None
    check_against_torch(lambda x, y, w: F.multi_margin_loss(x, y, p, margin, w, reduction=reduction),
                        lambda x, y, w: TF.multi_margin_loss(x, y, p, margin, w, reduction=reduction),
                        [np.random.default_rng(24).standard_normal(shape) * 0.5, Const(y), w])


def test_multi_margin_loss_by_hand_and_central_differences():
    # scores (1, 3, 2.5), target 1: class 0 is clear (1 - 3 + 1 = -1), class 2 is 0.5 inside the margin
    x = st.Tensor([[1.0, 3.0, 2.5]], dtype=np.float64)
    assert F.multi_margin_loss(x, np.array([1])).item() == pytest.approx(0.5 / 3)
    assert F.multi_margin_loss(x, np.array([1]), p=2).item() == pytest.approx(0.25 / 3)
    check_gradients(lambda x: F.multi_margin_loss(x, np.array([0, 2, 1, 1]), 2, 0.8, np.array([1.0, 2, 0.5])),
                    [np.random.default_rng(25).standard_normal((4, 3)) * 0.4], seed=26)


# ------------------------------------------------------------------------------------------ binary cross-entropy
BINARY_WEIGHTS = {"none": None, "full": (3, 4), "per_class": (4,)}


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", list(BINARY_WEIGHTS))
def test_binary_cross_entropy(reduction, weight):
    rng = np.random.default_rng(27)
    x, t = rng.uniform(0.02, 0.98, (3, 4)), rng.random((3, 4))
    w = None if BINARY_WEIGHTS[weight] is None else Const(rng.random(BINARY_WEIGHTS[weight]) + 0.5)
    check_against_torch(lambda x, t, w: F.binary_cross_entropy(x, t, w, reduction=reduction),
                        lambda x, t, w: TF.binary_cross_entropy(x, t, w, reduction=reduction), [x, t, w])


@needs_torch
def test_binary_cross_entropy_clamps_the_logs_at_the_ends():
    """Probabilities of exactly 0 and 1 give PyTorch's finite (clamped at -100) loss and its input gradient."""
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-300, 0.5])
    t = Const(np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.25]))
    out, _ = check_against_torch(lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
                                 lambda x, t: TF.binary_cross_entropy(x, t, reduction="none"), [x, t])
    assert np.all(np.isfinite(out)) and out[2] == 100 and out[3] == 100


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", list(BINARY_WEIGHTS))
@pytest.mark.parametrize("pos_weight", [False, True], ids=["no_pos_weight", "pos_weight"])
def test_binary_cross_entropy_with_logits(reduction, weight, pos_weight):
    rng = np.random.default_rng(28)
    t = rng.random((3, 4))
    w = None if BINARY_WEIGHTS[weight] is None else Const(rng.random(BINARY_WEIGHTS[weight]) + 0.5)
    pw = Const(rng.random(4) * 3) if pos_weight else None
    check_against_torch(lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, reduction=reduction,
                                                                               pos_weight=pw),
                        lambda x, t, w, pw: TF.binary_cross_entropy_with_logits(x, t, w, reduction=reduction,
                                                                                pos_weight=pw),
                        [(3, 4), t, w, pw], seed=29)


@needs_torch
def test_binary_cross_entropy_with_logits_extreme_logits_stay_finite():
    rng = np.random.default_rng(30)
    x = rng.standard_normal((4, 3)) * 1e4
    t = Const(rng.integers(0, 2, (4, 3)).astype(np.float64))
    pw = Const(np.array([0.5, 2.0, 3.0]))
    out, _ = check_against_torch(lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw,
                                                                                     reduction="none"),
                                 lambda x, t, pw: TF.binary_cross_entropy_with_logits(x, t, pos_weight=pw,
                                                                                      reduction="none"),
                                 [x, t, pw], rtol=1e-12, atol=1e-8)
    assert np.all(np.isfinite(out))


def test_binary_losses_central_differences():
    rng = np.random.default_rng(31)
    check_gradients(lambda x, t: F.binary_cross_entropy(x, t, np.array([1.0, 2.0, 0.5]), reduction="sum"),
                    [rng.uniform(0.1, 0.9, (2, 3)), rng.random((2, 3))], seed=32)
    check_gradients(lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=np.array([0.5, 2.0, 3.0])),
                    [(2, 3), rng.random((2, 3))], seed=33)


def test_binary_cross_entropy_with_logits_equals_bce_of_sigmoid():
    rng = np.random.default_rng(34)
    x, t = rng.standard_normal((3, 4)), rng.random((3, 4))
    logits = F.binary_cross_entropy_with_logits(st.Tensor(x, dtype=np.float64), t).item()
    probs = F.binary_cross_entropy(st.Tensor(1 / (1 + np.exp(-x)), dtype=np.float64), t).item()
    assert logits == pytest.approx(probs, rel=1e-12)


# ------------------------------------------------------------------------------------------ kl_div
@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (4,)])
def test_kl_div(reduction, log_target, shape):
    target = probabilities(shape, 35, axis=-1)
    target = np.log(target) if log_target else target
    check_against_torch(lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
                        lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target),
                        [np.log(probabilities(shape, 36, axis=-1)), target])


@needs_torch
def test_kl_div_zero_target_costs_nothing():
    target = Const(np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]))
    check_against_torch(lambda x, t: F.kl_div(x, t, reduction="none"),
                        lambda x, t: TF.kl_div(x, t, reduction="none"), [(2, 3), target])


def test_kl_div_by_hand():
    p = probabilities((2, 4), 37, axis=1)
    q = probabilities((2, 4), 38, axis=1)
    expected = np.sum(q * np.log(q / p)) / 2                            # KL(q || p) per example
    assert F.kl_div(st.Tensor(np.log(p), dtype=np.float64), q, reduction="batchmean").item() == pytest.approx(expected)
    assert F.kl_div(st.Tensor(np.log(p), dtype=np.float64), np.log(q), reduction="batchmean",
                    log_target=True).item() == pytest.approx(expected)
    assert F.kl_div(st.Tensor(np.log(q), dtype=np.float64), q, reduction="sum").item() == pytest.approx(0, abs=1e-15)


# ------------------------------------------------------------------------------------------ regression
REGRESSION = {
    "l1": (lambda: F.l1_loss, lambda: TF.l1_loss, {}),
    "mse": (lambda: F.mse_loss, lambda: TF.mse_loss, {}),
    "smooth_l1": (lambda: F.smooth_l1_loss, lambda: TF.smooth_l1_loss, {"beta": 0.7}),
    "smooth_l1_beta0": (lambda: F.smooth_l1_loss, lambda: TF.smooth_l1_loss, {"beta": 0.0}),
    "smooth_l1_default": (lambda: F.smooth_l1_loss, lambda: TF.smooth_l1_loss, {}),
    "huber": (lambda: F.huber_loss, lambda: TF.huber_loss, {"delta": 0.6}),
    "huber_default": (lambda: F.huber_loss, lambda: TF.huber_loss, {}),
}


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(REGRESSION))
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)])
def test_regression_losses(name, reduction, shape):
    st_fn, th_fn, extra = REGRESSION[name]
    kwargs = dict(reduction=reduction, **extra)
    check_against_torch(lambda x, t: st_fn()(x, t, **kwargs), lambda x, t: th_fn()(x, t, **kwargs),
                        [shape, shape], seed=39)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["l1", "mse", "huber"])
def test_regression_losses_with_weight(name, reduction):
    """PyTorch 2.6+'s element weights: 'mean' is sum / weight.sum() for L1 and MSE, a plain mean for Huber."""
    st_fn, th_fn, extra = REGRESSION[name]
    w = Const(np.random.default_rng(40).random((3, 4)) + 0.1)
    kwargs = dict(reduction=reduction, **extra)
    check_against_torch(lambda x, t, w: st_fn()(x, t, weight=w, **kwargs),
                        lambda x, t, w: th_fn()(x, t, weight=w, **kwargs), [(3, 4), (3, 4), w], seed=41)


def test_regression_by_hand():
    x = st.Tensor([0.5, -3.0, 2.0], dtype=np.float64)
    t = np.zeros(3)
    assert F.l1_loss(x, t, reduction="sum").item() == 5.5
    assert F.mse_loss(x, t, reduction="sum").item() == 13.25
    # smooth L1 (beta 1): 0.5*0.25, 3 - 0.5, 2 - 0.5; Huber (delta 2): 0.5*0.25, 2*(3 - 1), 0.5*4
    assert F.smooth_l1_loss(x, t, reduction="sum").item() == pytest.approx(0.125 + 2.5 + 1.5)
    assert F.huber_loss(x, t, "sum", 2.0).item() == pytest.approx(0.125 + 4 + 2)
    check_gradients(lambda x, t: F.huber_loss(x, t, "none", 0.5, np.arange(1.0, 13).reshape(3, 4)),
                    [(3, 4), (3, 4)], seed=42)


# ------------------------------------------------------------------------------------------ modules
def module_cases():
    w = class_weight((4, 3), 43)
    rng = np.random.default_rng(44)
    y, q = np.array([0, 2, 1, -100]), probabilities((4, 3), 45, axis=1)
    x01, t01 = rng.uniform(0.05, 0.95, (4, 3)), rng.random((4, 3))
    return {
        "CrossEntropyLoss": (lambda m: m.CrossEntropyLoss(w, label_smoothing=0.1, reduction="sum"), [(4, 3), Const(y)]),
        "CrossEntropyLoss_probs": (lambda m: m.CrossEntropyLoss(w, label_smoothing=0.1), [(4, 3), q]),
        "NLLLoss": (lambda m: m.NLLLoss(w, ignore_index=2, reduction="none"), [(4, 3), Const(y % 3)]),
        "BCELoss": (lambda m: m.BCELoss(w), [x01, t01]),
        "BCEWithLogitsLoss": (lambda m: m.BCEWithLogitsLoss(w, pos_weight=w[::-1].copy()), [(4, 3), t01]),
        "L1Loss": (lambda m: m.L1Loss(reduction="sum"), [(4, 3), (4, 3)]),
        "MSELoss": (lambda m: m.MSELoss(), [(4, 3), (4, 3)]),
        "SmoothL1Loss": (lambda m: m.SmoothL1Loss(beta=0.5), [(4, 3), (4, 3)]),
        "HuberLoss": (lambda m: m.HuberLoss("none", 0.5), [(4, 3), (4, 3)]),
        "KLDivLoss": (lambda m: m.KLDivLoss(reduction="batchmean", log_target=True), [(4, 3), np.log(q)]),
        "MultiMarginLoss": (lambda m: m.MultiMarginLoss(2, 0.5, w), [(4, 3), Const(np.array([0, 2, 1, 1]))]),
    }


def _torch_module(factory):
    """The same factory on torch.nn, with array weights turned into tensors."""
    class Shim:
        def __getattr__(self, name):
            cls = getattr(torch.nn, name)

            def build(*args, **kwargs):
                conv = lambda v: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
                return cls(*[conv(a) for a in args], **{k: conv(v) for k, v in kwargs.items()})
            return build
    return factory(Shim())


@needs_torch
@pytest.mark.parametrize("name", list(module_cases()))
def test_modules_against_torch_modules(name):
    factory, inputs = module_cases()[name]
    module, reference = factory(nn).double(), _torch_module(factory)
    check_against_torch(lambda *a: module(*a), lambda *a: reference(*a), inputs, seed=46)


@pytest.mark.parametrize("name", list(module_cases()))
def test_modules_equal_functions(name):
    """The module forwards its settings: its value equals the function's with the same arguments."""
    factory, inputs = module_cases()[name]
    module = factory(nn).double()
    function = {"CrossEntropyLoss": lambda x, t: F.cross_entropy(x, t, module.weight, label_smoothing=0.1,
                                                                 reduction="sum"),
                "CrossEntropyLoss_probs": lambda x, t: F.cross_entropy(x, t, module.weight, label_smoothing=0.1),
                "NLLLoss": lambda x, t: F.nll_loss(x, t, module.weight, ignore_index=2, reduction="none"),
                "BCELoss": lambda x, t: F.binary_cross_entropy(x, t, module.weight),
                "BCEWithLogitsLoss": lambda x, t: F.binary_cross_entropy_with_logits(
                    x, t, module.weight, pos_weight=module.weight[::-1]),
                "L1Loss": lambda x, t: F.l1_loss(x, t, reduction="sum"),
                "MSELoss": F.mse_loss,
                "SmoothL1Loss": lambda x, t: F.smooth_l1_loss(x, t, beta=0.5),
                "HuberLoss": lambda x, t: F.huber_loss(x, t, "none", 0.5),
                "KLDivLoss": lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True),
                "MultiMarginLoss": lambda x, t: F.multi_margin_loss(x, t, 2, 0.5, module.weight)}[name]
    arrays = [i.value if isinstance(i, Const) else
              np.random.default_rng(47).standard_normal(i) if isinstance(i, tuple) else i for i in inputs]
    x = st.Tensor(arrays[0], dtype=np.float64)
    np.testing.assert_array_equal(module(x, arrays[1]).data, function(x, arrays[1]).data)


def test_module_weights_are_buffers():
    w = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    loss = nn.CrossEntropyLoss(w)
    assert list(loss.state_dict()) == ["weight"] and loss.state_dict()["weight"].dtype == np.float32
    assert loss.double().weight.dtype == np.float64
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    assert "label_smoothing=0.0" in repr(nn.CrossEntropyLoss())


def test_losses_are_not_layers():
    registered = set(nn.registered_layers())
    assert not registered & {"CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss", "MSELoss",
                             "SmoothL1Loss", "HuberLoss", "KLDivLoss", "MultiMarginLoss"}


# ------------------------------------------------------------------------------------------ errors


def logits(*shape):
    return st.Tensor(np.zeros(shape), dtype=np.float32)


def test_label_smoothing_out_of_range():
    raises(ValueError, lambda: F.cross_entropy(logits(2, 3), [0, 1], label_smoothing=-0.1), "cross_entropy",
           "label_smoothing must be in [0, 1]", "got -0.1")
    raises(ValueError, lambda: F.cross_entropy(logits(2, 3), [0, 1], label_smoothing=1.5), "cross_entropy", "got 1.5")
    raises(TypeError, lambda: F.cross_entropy(logits(2, 3), [0, 1], label_smoothing="0.1"), "label_smoothing",
           "must be a number")
    raises(ValueError, lambda: nn.CrossEntropyLoss(label_smoothing=2), "CrossEntropyLoss", "got 2")


def test_class_index_out_of_range_names_ignore_index():
    raises(ValueError, lambda: F.cross_entropy(logits(3, 4, 2), np.array([[0, 4], [1, 1], [2, 2]])),
           "cross_entropy", "expected labels in [0, 4) or ignore_index=-100", "got values from 0 to 4")
    raises(ValueError, lambda: F.nll_loss(logits(3, 4), np.array([0, -1, 3]), ignore_index=5), "nll_loss",
           "[0, 4) or ignore_index=5", "from -1 to 3")
    raises(ValueError, lambda: F.multi_margin_loss(logits(2, 3), np.array([0, 3])), "multi_margin_loss",
           "expected labels in [0, 3)", "from 0 to 3")
    # ignored targets may hold any value, inside the class range too
    assert F.cross_entropy(logits(2, 3), np.array([7, 1]), ignore_index=7).item() == pytest.approx(math.log(3))


def test_weight_of_the_wrong_length():
    raises(st.ShapeError, lambda: F.cross_entropy(logits(2, 3), [0, 1], np.ones(4)), "cross_entropy",
           "expected weight of shape (3,) (one per class)", "got (4,)")
    raises(st.ShapeError, lambda: F.nll_loss(logits(2, 3), [0, 1], np.ones((3, 1))), "nll_loss", "got (3, 1)")
    raises(st.ShapeError, lambda: F.multi_margin_loss(logits(2, 3), [0, 1], weight=np.ones(2)), "multi_margin_loss",
           "(3,)", "got (2,)")
    raises(st.ShapeError, lambda: F.binary_cross_entropy(logits(2, 3), logits(2, 3), np.ones(2)),
           "binary_cross_entropy", "weight broadcastable to (2, 3)", "got (2,)")
    raises(st.ShapeError, lambda: F.binary_cross_entropy_with_logits(logits(2, 3), logits(2, 3), pos_weight=np.ones(4)),
           "binary_cross_entropy_with_logits", "pos_weight broadcastable to (2, 3)", "got (4,)")
    raises(st.ShapeError, lambda: F.mse_loss(logits(2, 3), logits(2, 3), weight=np.ones(3)), "mse_loss",
           "expected weight of shape (2, 3)", "got (3,)")
    raises(TypeError, lambda: F.cross_entropy(logits(2, 3), [0, 1], "sum"), "cross_entropy", "weight must be")


def test_shape_mismatches():
    raises(st.ShapeError, lambda: F.cross_entropy(logits(2, 3, 4), np.zeros((2, 5), dtype=int)), "cross_entropy",
           "got (2, 3, 4) with labels (2, 5)", "expected labels (2, 4) or class probabilities (2, 3, 4)")
    raises(st.ShapeError, lambda: F.cross_entropy(logits(3), np.zeros(1, dtype=int)), "cross_entropy",
           "(C,) with a scalar label", "got (3,) with labels (1,)")
    raises(st.ShapeError, lambda: F.cross_entropy(logits(), 0), "cross_entropy", "expected logits (C,), (N, C)",
           "got ()")
    raises(st.ShapeError, lambda: F.nll_loss(logits(4, 3), np.zeros(3, dtype=int)), "nll_loss",
           "expected labels (4,) for input with 4 rows", "got (3,)")
    raises(st.ShapeError, lambda: F.multi_margin_loss(logits(2, 3, 4), np.zeros((2, 4), dtype=int)),
           "multi_margin_loss", "expected input (N, C) or (C,)", "got (2, 3, 4)")
    for name in ["l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                 "kl_div"]:
        raises(st.ShapeError, lambda: getattr(F, name)(logits(2, 3), logits(3, 2)), name,
               "expected target of shape (2, 3)", "got (3, 2)")


def test_target_kinds():
    raises(TypeError, lambda: F.cross_entropy(logits(2, 3), np.zeros((2, 3), dtype=int)), "cross_entropy",
           "expected floating class probabilities", "dtype int")
    raises(ValueError, lambda: F.cross_entropy(logits(2, 3), np.full((2, 3), 1 / 3), ignore_index=0), "cross_entropy",
           "ignore_index is not supported with class probabilities", "got 0")
    raises(TypeError, lambda: F.nll_loss(logits(2, 3), np.array([0.5, 1])), "nll_loss", "integer class labels")
    raises(TypeError, lambda: F.cross_entropy(logits(2, 3), [0, 1], ignore_index=1.0), "cross_entropy",
           "ignore_index must be an int", "got 1.0")


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "multi_margin_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits", "kl_div", "l1_loss", "mse_loss",
                                  "smooth_l1_loss", "huber_loss"])
def test_unknown_reduction(name):
    classes = name in ("cross_entropy", "nll_loss", "multi_margin_loss")
    target = np.array([0, 1]) if classes else np.full((2, 3), 0.5, dtype=np.float32)
    x = logits(2, 3) if name != "binary_cross_entropy" else st.Tensor(np.full((2, 3), 0.5))
    raises(ValueError, lambda: getattr(F, name)(x, target, reduction="avg"), name, "reduction must be one of",
           "'avg'")
    if name != "kl_div":
        raises(ValueError, lambda: getattr(F, name)(x, target, reduction="batchmean"), name, "'batchmean'")


def test_bad_settings():
    raises(ValueError, lambda: F.binary_cross_entropy(st.Tensor([0.5, 1.5]), [0.0, 1.0]), "binary_cross_entropy",
           "expected input values in [0, 1]", "from 0.5 to 1.5")
    raises(ValueError, lambda: F.multi_margin_loss(logits(2, 3), [0, 1], p=3), "multi_margin_loss",
           "p must be 1 or 2", "got 3")
    raises(TypeError, lambda: nn.MultiMarginLoss(p=True), "MultiMarginLoss", "p must be")
    raises(ValueError, lambda: F.smooth_l1_loss(logits(2), logits(2), beta=-1.0), "smooth_l1_loss",
           "beta must be >= 0", "got -1.0")
    raises(ValueError, lambda: nn.HuberLoss(delta=0), "HuberLoss", "delta must be > 0", "got 0")
    raises(ValueError, lambda: nn.KLDivLoss(reduction="batch"), "KLDivLoss", "'batchmean'", "got 'batch'")
    raises(ValueError, lambda: nn.MSELoss(reduction="avg"), "MSELoss", "got 'avg'")
    raises(TypeError, lambda: nn.CrossEntropyLoss("sum"), "CrossEntropyLoss", "weight must be an array of numbers")
    raises(TypeError, lambda: nn.BCEWithLogitsLoss(pos_weight="x"), "BCEWithLogitsLoss", "pos_weight must be")
