"""Property-based tests of the windowed ops against PyTorch in float64 (issue 15, "keep it verified").

Hypothesis draws configurations of convolution (``nn.Conv{1,2,3}d``, with ``padding_mode``),
transposed convolution, max pooling and average pooling (``F.*``): 1 to 3 spatial axes, batch
sizes 0 to 2, channels and groups, kernel, stride, dilation, every padding form (an int, one per
axis, ``(lo, hi)`` pairs, ``'valid'``, ``'same'``, ``'full'``, ``'causal'``, and invalid ones),
``output_padding``, ``ceil_mode``, ``count_include_pad``, ``divisor_override``, and spatial sizes
including 0 and 1. Each configuration is run by both libraries:

* PyTorch accepts it: strided gives the same output and the same gradients of the input, weight
  and bias for a random upstream gradient (and the same ``return_indices``);
* PyTorch refuses it: strided refuses it too, with a ``ValueError``/``TypeError`` (``ShapeError``
  is one) whose message names the layer;
* the one documented difference: PyTorch skips some checks for a batch of 0 and may then accept
  an empty spatial axis (of the input or the output) or an ``output_padding`` too large; strided
  checks every batch alike, so for a batch of 0 the oracle is PyTorch's verdict on one example;
  and PyTorch's ``avg_pool3d`` alone refuses an input smaller than the kernel where the padding
  makes up for it: strided accepts it as the other poolings do (the oracle: 2-D poolings); a max
  window that reads only padding has index -1 and no gradient in strided (PyTorch: an index past
  the input, whose gradient lands in the next channel);
* a padding form only strided has (per-side pairs, ``'same'`` with a stride, ``'full'``,
  ``'causal'``, a mode string in pooling) has a documented meaning: explicit ``(lo, hi)`` pads
  (``geometry/sizes.py``). The oracle is PyTorch on the input padded by those pads, worked out
  here from the documented rule (zeros, the ``padding_mode``, or ``-inf`` for the maximum; the
  average without ``count_include_pad`` divides by the pooled mask of real positions), and
  pooling refuses pads beyond half the kernel as PyTorch's pooling does (``'full'`` always is).

Bounded to about a minute in the default run; ``pytest --fuzz`` runs 1,000,000 examples per
test (``--fuzz=N``: N), e.g. ``python -m pytest tests/test_fuzz_ops.py --fuzz=20000
--hypothesis-show-statistics``. Hypothesis keeps no example database (nothing is written).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="needs hypothesis: pip install -e '.[test]'")
torch = pytest.importorskip("torch", reason="needs PyTorch (the oracle): pip install torch==2.13.0")

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis.control import currently_in_test_context  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

import strided as st  # noqa: E402
from oracle import assert_close  # noqa: E402
from strided import nn  # noqa: E402
from strided.nn import functional as F  # noqa: E402

TF = torch.nn.functional
DEFAULT_EXAMPLES = 250                       # per test: the four take 20-60 s together
MAX_SIZE = {1: 12, 2: 8, 3: 5}               # spatial sizes drawn per axis, by dimension
STRIDED_ONLY_MODES = ("full", "causal")
REFUSED = (ValueError, TypeError)


def fuzz_settings(request):
    examples = request.config.getoption("--fuzz") or DEFAULT_EXAMPLES
    return settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------------------- drawing


def per_axis(draw, d, low, high):
    """An int, or a tuple of ``d`` ints (both forms are PyTorch's)."""
    if draw(hs.booleans()):
        return draw(hs.integers(low, high))
    return tuple(draw(hs.integers(low, high)) for _ in range(d))


def axes(value, d):
    return tuple(value) if isinstance(value, tuple) else (value,) * d


@hs.composite
def paddings(draw, d, kernel, transposed=False):
    """Every padding form, and a few invalid ones (negative, the wrong length, an unknown mode)."""
    forms = ["int", "ints", "pairs", "bad"] + ([] if transposed else ["valid", "same", "full", "causal"])
    form = draw(hs.sampled_from(forms))
    top = max(axes(kernel, d))
    if form == "int":
        return draw(hs.integers(0, top))
    if form == "ints":
        return tuple(draw(hs.integers(0, top)) for _ in range(d))
    if form == "pairs":
        return tuple((draw(hs.integers(0, top)), draw(hs.integers(0, top))) for _ in range(d))
    if form == "bad":
        return draw(hs.sampled_from([-1, (1,) * (d + 1), "mirror", 1.5, True]))
    return form


@hs.composite
def window_case(draw, kind):
    d = draw(hs.integers(1, 3))
    case = dict(kind=kind, d=d, n=draw(hs.sampled_from([0, 1, 2, 2])),
                sizes=tuple(draw(hs.integers(0, MAX_SIZE[d])) for _ in range(d)),
                kernel=per_axis(draw, d, 1, 4), seed=draw(hs.integers(0, 2**16)))
    if kind in ("conv", "transposed"):
        groups = draw(hs.sampled_from([1, 1, 2, 3]))
        case.update(groups=groups, cin=groups * draw(hs.integers(1, 2)), cout=groups * draw(hs.integers(1, 2)),
                    bias=draw(hs.booleans()), stride=per_axis(draw, d, 1, 3), dilation=per_axis(draw, d, 1, 3))
        if draw(hs.integers(0, 20)) == 0:                                # now and then channels groups cannot split
            case["cin"] += 1
    else:
        case.update(channels=draw(hs.integers(1, 3)),
                    stride=draw(hs.none()) if draw(hs.booleans()) else per_axis(draw, d, 1, 3),
                    ceil_mode=draw(hs.booleans()))
    case["padding"] = draw(paddings(d, case["kernel"], transposed=kind == "transposed"))
    if kind == "conv":
        case["padding_mode"] = draw(hs.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    if kind == "transposed":
        case["output_padding"] = per_axis(draw, d, 0, 2)
    if kind == "max":
        case["dilation"] = per_axis(draw, d, 1, 3)
    if kind == "avg":
        case["count_include_pad"] = draw(hs.booleans())
        case["divisor_override"] = draw(hs.sampled_from([None, None, 1, 3])) if d > 1 else None
    return case


# ----------------------------------------------------------------------------- documented padding


def extent(k, dilation):
    return dilation * (k - 1) + 1


def documented_pads(padding, sizes, kernel, stride, dilation):
    """The ``(lo, hi)`` pairs a padding form means (README / ``geometry/sizes.py``), by hand."""
    d = len(sizes)
    kernel, stride, dilation = axes(kernel, d), axes(stride, d), axes(dilation, d)
    if padding == "valid":
        return ((0, 0),) * d
    if padding == "same":                                               # ceil(n / s) outputs, the extra pad last
        pads = []
        for n, k, s, dl in zip(sizes, kernel, stride, dilation):
            total = max((-(-n // s) - 1) * s + extent(k, dl) - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if padding == "full":
        return tuple((extent(k, dl) - 1,) * 2 for k, dl in zip(kernel, dilation))
    if padding == "causal":
        return ((extent(kernel[0], dilation[0]) - 1, 0),)
    if isinstance(padding, int):
        return ((padding, padding),) * d
    return tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)


def torch_pad_arg(pairs):
    """``F.pad``'s argument: last axis first."""
    return tuple(v for lo_hi in reversed(pairs) for v in lo_hi)


def torch_takes(case):
    """Whether PyTorch's own call expresses ``case['padding']`` (else the documented pads are the oracle)."""
    padding = case["padding"]
    if isinstance(padding, bool) or not isinstance(padding, (int, tuple, str)):
        return True                                                     # invalid: both must refuse
    if isinstance(padding, str):
        if padding not in ("valid", "same", "full", "causal"):
            return True
        return case["kind"] == "conv" and padding in ("valid", "same") and (
            padding == "valid" or set(axes(case["stride"], case["d"])) == {1})
    if isinstance(padding, tuple) and any(isinstance(p, tuple) for p in padding):
        return len(padding) != case["d"]                                # wrong length: both must refuse
    return True


# --------------------------------------------------------------------------------------- running


def arrays(case):
    rng = np.random.default_rng(case["seed"])
    d, n = case["d"], case["n"]
    if case["kind"] in ("conv", "transposed"):
        cin, cout, g = case["cin"], case["cout"], case["groups"]
        k = axes(case["kernel"], d)
        w_shape = (cout, cin // g) + k if case["kind"] == "conv" else (cin, cout // g) + k
        x = rng.standard_normal((n, cin) + case["sizes"])
        w = rng.standard_normal(w_shape)
        b = rng.standard_normal(cout) if case["bias"] else None
        return x, w, b
    return rng.standard_normal((n, case["channels"]) + case["sizes"]), None, None


def run_torch(case, x, w, b):
    """``(output, indices or None, leaves)``; raises where PyTorch refuses."""
    d, kind, padding = case["d"], case["kind"], case["padding"]
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    xt = leaves[0]
    direct = torch_takes(case)
    if not direct:
        pads = documented_pads(padding, case["sizes"], case["kernel"], case["stride"] or case["kernel"],
                               case.get("dilation", 1))
    if kind == "conv":
        conv = getattr(torch.nn, f"Conv{d}d")(case["cin"], case["cout"], case["kernel"], case["stride"],
                                              padding if direct else 0, case["dilation"], case["groups"],
                                              case["bias"], case["padding_mode"], dtype=torch.float64)
        with torch.no_grad():
            conv.weight.copy_(leaves[1])
            if b is not None:
                conv.bias.copy_(leaves[2])
        if not direct:
            mode = "constant" if case["padding_mode"] == "zeros" else case["padding_mode"]
            xt = TF.pad(xt, torch_pad_arg(pads), mode=mode)
        return conv(xt), None, leaves, conv
    if kind == "transposed":
        op = getattr(TF, f"conv_transpose{d}d")
        bt = leaves[2] if b is not None else None
        if direct:
            return op(xt, leaves[1], bt, case["stride"], padding, case["output_padding"], case["groups"],
                      case["dilation"]), None, leaves, None
        full = op(xt, leaves[1], bt, case["stride"], 0, case["output_padding"], case["groups"], case["dilation"])
        crop = tuple(slice(lo, full.shape[2 + i] - hi) for i, (lo, hi) in enumerate(pads))
        if any(lo + hi >= full.shape[2 + i] for i, (lo, hi) in enumerate(pads)):
            raise ValueError("transposed: cropped to nothing, as PyTorch refuses")
        return full[(slice(None), slice(None)) + crop], None, leaves, None
    stride = case["stride"]
    if kind == "max":
        op = getattr(TF, f"max_pool{d}d")
        if direct:
            out, idx = op(xt, case["kernel"], stride, padding, case["dilation"], case["ceil_mode"], True)
            return out, idx, leaves, None
        xp = TF.pad(xt, torch_pad_arg(pads), value=-math.inf)
        return op(xp, case["kernel"], stride, 0, case["dilation"], False), None, leaves, None
    op = getattr(TF, f"avg_pool{d}d")
    extra = {} if d == 1 else {"divisor_override": case["divisor_override"]}
    if case.get("via_2d"):
        return avg_pool3d_by_2d(xt, case), None, leaves, None
    if direct:
        return op(xt, case["kernel"], stride, padding, case["ceil_mode"], case["count_include_pad"],
                  **extra), None, leaves, None
    xp = TF.pad(xt, torch_pad_arg(pads))
    out = op(xp, case["kernel"], stride, 0, False, True, **extra)
    if not case["count_include_pad"] and case["divisor_override"] is None:
        mask = TF.pad(torch.ones((1, 1) + case["sizes"], dtype=torch.float64), torch_pad_arg(pads))
        out = out / op(mask, case["kernel"], stride, 0, False, True)
    return out, None, leaves, None


def run_strided(case, x, w, b):
    """``(owner name, output, indices or None, leaves)``; raises where strided refuses."""
    d, kind, padding = case["d"], case["kind"], case["padding"]
    ceil_mode = case.get("ceil_mode", False) if torch_takes(case) else False
    leaves = [st.Tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    if kind == "conv":
        owner = f"Conv{d}d"
        layer = getattr(nn, owner)(case["cin"], case["cout"], case["kernel"], case["stride"], padding,
                                   case["dilation"], case["groups"], case["bias"], case["padding_mode"]).double()
        layer.weight.data = w.copy()
        if b is not None:
            layer.bias.data = b.copy()
        out = layer(leaves[0])
        return owner, out, None, [leaves[0], layer.weight] + ([layer.bias] if b is not None else [])
    if kind == "transposed":
        owner = f"conv_transpose{d}d"
        out = getattr(F, owner)(leaves[0], leaves[1], leaves[2] if b is not None else None, case["stride"], padding,
                                case["output_padding"], case["groups"], case["dilation"])
        return owner, out, None, leaves
    if kind == "max":
        owner = f"max_pool{d}d"
        out, idx = getattr(F, owner)(leaves[0], case["kernel"], case["stride"], padding, case["dilation"], ceil_mode,
                                     True)
        return owner, out, idx, leaves
    owner = f"avg_pool{d}d"
    extra = {} if d == 1 else {"divisor_override": case["divisor_override"]}
    out = getattr(F, owner)(leaves[0], case["kernel"], case["stride"], padding, ceil_mode,
                            case["count_include_pad"], **extra)
    return owner, out, None, leaves


def outcome(text):
    """Count ``text`` in ``--hypothesis-show-statistics`` (nothing outside a hypothesis run)."""
    if currently_in_test_context():
        event(text)


def documented_refusal(case):
    """Why strided refuses ``case`` by a rule of its own (where PyTorch may accept or has no such form), or ``None``."""
    padding, d = case["padding"], case["d"]
    if isinstance(padding, int) and not isinstance(padding, bool) and padding < 0:
        return "negative padding (PyTorch's convolution crops by it, undocumented)"
    if isinstance(padding, tuple) and all(isinstance(p, int) for p in padding) and min(padding, default=0) < 0:
        return "negative padding"
    if 0 in case["sizes"]:
        return "an empty spatial axis (PyTorch refuses one for a non-empty batch)"
    if padding == "causal" and d > 1:
        return "'causal' padding is defined for one spatial axis"
    if case["kind"] in ("max", "avg") and not torch_takes(case):
        pads = documented_pads(padding, case["sizes"], case["kernel"], case["stride"] or case["kernel"],
                               case.get("dilation", 1))
        if any(max(p) > k // 2 for p, k in zip(pads, axes(case["kernel"], d))):
            return "pooling pads at most half the kernel, as PyTorch's pooling"
    return None


def check_case(case):
    """The property: same values and gradients as PyTorch, or a named refusal where PyTorch refuses."""
    x, w, b = arrays(case)
    why = documented_refusal(case)
    if why:
        outcome(f"refused by strided's rule: {why}")
        expect_named_refusal(case, x, w, b, why)
        return
    if not torch_takes(case):
        case = dict(case, ceil_mode=False)                              # the documented pads: no ceil_mode
    try:
        out_t, idx_t, leaves_t, module_t = run_torch(case, x, w, b)
    except (RuntimeError, ValueError, TypeError, IndexError) as refusal:
        if avg_pool3d_quirk(case, refusal):
            check_case(dict(case, via_2d=True))                         # the oracle: 2-D poolings
            return
        outcome("refused by both")
        expect_named_refusal(case, x, w, b, f"PyTorch refused it ({refusal})")
        return
    if case["n"] == 0 and refused_with_one_example(case):
        # the documented difference: PyTorch skips some checks for a batch of 0 (empty spatial axes, output_padding);
        # strided checks every batch alike, so it refuses what PyTorch refuses for one example
        outcome("batch 0: refused as PyTorch refuses one example")
        expect_named_refusal(case, x, w, b, "PyTorch refuses it for one example")
        return
    outcome("compared with PyTorch" + ("" if torch_takes(case) else " on the documented pads"))
    owner, out_s, idx_s, leaves_s = run_strided(case, x, w, b)
    assert_close(out_s.data, out_t.detach().numpy(), what=f"{owner} forward")
    # a max window reading only padding (dilation lets one skip the input) is -inf in both; strided documents its
    # index as -1 and sends it no gradient, PyTorch gives the first tap past the input, whose gradient lands in the
    # next plane's memory: such windows get index -1 and no upstream gradient in the oracle
    padding_only = np.isneginf(out_t.detach().numpy()) if case["kind"] == "max" else np.zeros(out_s.shape, bool)
    if padding_only.any():
        outcome("max window reading only padding: -inf, index -1, no gradient")
    if idx_t is not None:
        np.testing.assert_array_equal(idx_s, np.where(padding_only, -1, idx_t.numpy()), err_msg=f"{owner} indices")
    upstream = np.random.default_rng(case["seed"] + 1).standard_normal(out_s.shape)
    out_s.backward(upstream.copy())
    out_t.backward(torch.from_numpy(np.where(padding_only, 0.0, upstream)))
    grads_t = [leaves_t[0].grad] + ([module_t.weight.grad] + ([module_t.bias.grad] if case["bias"] else [])
                                    if module_t is not None else [t.grad for t in leaves_t[1:]])
    for what, s, t in zip(("input", "weight", "bias"), leaves_s, grads_t):
        expected = np.zeros(s.shape) if t is None else t.numpy()
        assert s.grad is not None, f"{owner}: no {what} gradient"
        assert_close(s.grad, expected, what=f"{owner} {what} gradient")


def avg_pool3d_quirk(case, refusal):
    """PyTorch's ``avg_pool3d`` alone refuses an input smaller than the kernel even where the padding or
    ``ceil_mode`` makes the windows fit (``avg_pool1d``/``2d`` and every max pooling accept it); strided accepts
    it in every dimension, and the oracle is ``avg_pool3d_by_2d``."""
    return case["kind"] == "avg" and case["d"] == 3 and "smaller than kernel size" in str(refusal)


def avg_pool3d_by_2d(x, case):
    """``avg_pool3d`` from PyTorch's 2-D poolings: window sums (``divisor_override=1``) over (H, W), then over D,
    divided by the divisor, which is a product over the axes in PyTorch's rule."""
    kernel, padding = axes(case["kernel"], 3), axes(case["padding"], 3)
    stride = axes(case["stride"] or case["kernel"], 3)

    def window_sums(t):
        n, c, depth, h, w = t.shape
        hw = TF.avg_pool2d(t.reshape(n, c * depth, h, w), kernel[1:], stride[1:], padding[1:], case["ceil_mode"],
                           True, divisor_override=1)                    # (N, C*D, H', W')
        h2, w2 = hw.shape[-2:]
        dd = TF.avg_pool2d(hw.reshape(n, c, depth, h2 * w2), (kernel[0], 1), (stride[0], 1), (padding[0], 0),
                           case["ceil_mode"], True, divisor_override=1)   # (N, C, D', H'*W')
        return dd.reshape(n, c, dd.shape[2], h2, w2)

    ones = torch.ones((1, 1) + case["sizes"], dtype=torch.float64)
    if case["divisor_override"] is not None:
        divisor = case["divisor_override"]
    elif not case["count_include_pad"]:
        divisor = window_sums(ones)                                     # the real positions in each window
    else:                                                               # per axis: real / (real / counted)
        divisor = 1
        for axis, (n, k, s, p) in enumerate(zip(case["sizes"], kernel, stride, padding)):
            line = torch.ones((1, 1, n), dtype=torch.float64)
            real = TF.avg_pool2d(line[..., None], (k, 1), (s, 1), (p, 0), case["ceil_mode"], True,
                                 divisor_override=1)[..., 0]            # (1, 1, O): real positions per window
            counted = real / TF.avg_pool1d(line, k, s, p, case["ceil_mode"], True)
            divisor = divisor * counted.reshape((-1,) + (1,) * (2 - axis))
    return window_sums(x) / divisor


def refused_with_one_example(case):
    one = dict(case, n=1)
    try:
        run_torch(one, *arrays(one))
    except (RuntimeError, ValueError, TypeError, IndexError):
        return True
    return False


def expect_named_refusal(case, x, w, b, why):
    with pytest.raises(REFUSED) as info:
        run_strided(case, x, w, b)
    owner = owner_name(case)
    assert owner.lower() in str(info.value).lower(), f"{why}; strided's error does not name {owner}: {info.value}"


def owner_name(case):
    d = case["d"]
    return {"conv": f"Conv{d}d", "transposed": f"conv_transpose{d}d", "max": f"max_pool{d}d",
            "avg": f"avg_pool{d}d"}[case["kind"]]


@pytest.mark.parametrize("kind", ["conv", "transposed", "max", "avg"])
def test_windowed_ops_match_torch_or_refuse_by_name(kind, request):
    fuzz_settings(request)(given(window_case(kind))(check_case))()


# Hand-picked configurations the properties above must always include (hypothesis may not draw them).
EXAMPLES = [
    dict(kind="max", d=2, n=1, sizes=(4, 4), kernel=3, stride=1, padding=1, dilation=1, ceil_mode=False,
         channels=1, seed=0),
    dict(kind="avg", d=1, n=0, sizes=(5,), kernel=2, stride=None, padding=1, ceil_mode=True, channels=2,
         count_include_pad=False, divisor_override=None, seed=1),
    dict(kind="conv", d=2, n=2, sizes=(5, 1), kernel=(3, 1), stride=2, padding="same", dilation=1, groups=1,
         cin=2, cout=3, bias=True, padding_mode="reflect", seed=2),
    dict(kind="conv", d=1, n=1, sizes=(2,), kernel=3, stride=1, padding="same", dilation=1, groups=1, cin=1,
         cout=1, bias=False, padding_mode="reflect", seed=3),                      # reflect pad >= size: refused
    dict(kind="transposed", d=3, n=1, sizes=(1, 2, 0), kernel=2, stride=2, padding=0, output_padding=1,
         dilation=1, groups=1, cin=1, cout=2, bias=True, seed=4),                   # an empty axis: refused
    dict(kind="transposed", d=2, n=1, sizes=(3, 2), kernel=3, stride=2, padding=((1, 0), (0, 2)),
         output_padding=1, dilation=2, groups=2, cin=2, cout=2, bias=True, seed=5),
    dict(kind="max", d=1, n=2, sizes=(7,), kernel=3, stride=2, padding="full", dilation=1, ceil_mode=False,
         channels=1, seed=6),                                                      # beyond half the kernel
    dict(kind="avg", d=3, n=2, sizes=(1, 2, 1), kernel=2, stride=None, padding=1, ceil_mode=True, channels=1,
         count_include_pad=True, divisor_override=None, seed=8),                   # PyTorch's avg_pool3d refuses
    dict(kind="max", d=1, n=1, sizes=(2,), kernel=2, stride=None, padding=1, dilation=3, ceil_mode=False,
         channels=2, seed=9),                                                      # a window of padding only
    dict(kind="conv", d=1, n=1, sizes=(6,), kernel=3, stride=1, padding="causal", dilation=2, groups=1, cin=1,
         cout=2, bias=True, padding_mode="circular", seed=7),
]


@pytest.mark.parametrize("case", EXAMPLES, ids=lambda c: f"{c['kind']}{c['d']}d-{c['padding']}")
def test_hand_picked_configurations(case):
    check_case(case)
