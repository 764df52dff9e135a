"""The layer contract, run over every registered layer (DESIGN.md, "One layer, one place").

For each ``name -> factory`` in ``strided.nn.registered_layers()`` (the factory returns a small
module and an input shape it accepts):

* declared ``output_shape`` == the shape ``forward`` really returns;
* declared ``cost(...).params`` == the real number of parameter values;
* backward of the input and of every parameter == central differences (float64), in training
  and in evaluation mode;
* ``state_dict`` round trip into a freshly built instance gives the same outputs;
* an input of the wrong rank raises ``ShapeError`` naming the layer and the received shape;
* no static rule is missing, and the declared receptive field equals the one measured by
  perturbing single input pixels and watching which outputs move.

The oracles are the forward pass itself (shapes), the parameter arrays (counts), central
differences (gradients) and pixel perturbation (receptive fields); never a rule checking itself.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.geometry import ReceptiveField
from strided.nn.module import Module

from oracle import numerical_grad

LAYERS = nn.registered_layers()
NAMES = sorted(LAYERS)

# Layers whose forward accepts any rank (element-wise): no input rank is wrong for them.
RANK_AGNOSTIC = {"ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "AlphaDropout",
                 "ReLU6", "Hardtanh", "Hardsigmoid", "Hardswish", "GELU", "SiLU", "Mish", "Softplus", "ELU", "SELU",
                 "CELU", "Identity"}

# The wrong-rank input for each layer that has a rank requirement. Default: drop the last axis.
WRONG_RANK = {
    "GroupNorm": lambda shape: shape[:1],                # (N, C, *): a 1-D input has no channel axis
    "SyncBatchNorm": lambda shape: shape[:1],            # (N, C, *) of any rank: a 1-D input has no channel axis
    "InstanceNorm1d": lambda shape: shape + (2,),        # accepts (C, L) and (N, C, L): give rank 4
    "InstanceNorm2d": lambda shape: shape + (2,),
    "InstanceNorm3d": lambda shape: shape + (2,),
    "Dropout1d": lambda shape: shape + (2,),             # accepts (C, L) and (N, C, L): give rank 4
    "Dropout3d": lambda shape: shape + (2,),
    "PReLU": lambda shape: shape[:1],                    # one slope per channel: a 1-D input has no axis 1
    "Linear": lambda shape: (),                          # (*, in_features) needs at least one axis
    "StochasticDepth": lambda shape: (),                 # (N, *): a 0-d input has no batch axis
    "BatchNorm1d": lambda shape: shape + (2, 2),         # accepts (N, C) and (N, C, L): give rank 5
    "Softmax": lambda shape: (shape[0],),                # dim=1 does not exist in a 1-D input
    "LogSoftmax": lambda shape: (shape[0],),
    "Flatten": lambda shape: (shape[0],),                # start_dim=1 does not exist in a 1-D input
    "GlobalAvgPool": lambda shape: shape[:2],            # no spatial axis
    "GlobalMaxPool": lambda shape: shape[:2],
}

# Layers that also take one example (C, *S), as PyTorch does (convolution, pooling, padding, pixel shuffling;
# see nn/helpers.py): dropping one axis gives a valid input, so their wrong rank drops two (batch and an axis).
# test_batch_zero.py checks that their unbatched output is the batched one's first example.
UNBATCHED = {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
             "DepthwiseConv1d", "DepthwiseConv2d", "DepthwiseConv3d", "PointwiseConv1d", "PointwiseConv2d",
             "PointwiseConv3d", "SeparableConv1d", "SeparableConv2d", "SeparableConv3d",
             "LocallyConnected1d", "LocallyConnected2d", "LocallyConnected3d",
             "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "LPPool1d", "LPPool2d",
             "LPPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
             "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "KMaxPool1d",
             "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
             "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
             "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d", "PixelShuffle", "PixelUnshuffle",
             "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "Dropout1d", "Dropout3d"}

# Layers whose input is an integer index array (embedding lookups): name -> the number of valid indices of
# the built module. Their inputs are random indices; they have no input gradient (their parameter gradients
# are checked) and accept every rank, so no rank is wrong for them (test_embedding.py tests their errors).
INDEX_INPUT = {"Embedding": lambda module: module.num_embeddings}

# Layers whose outputs see the whole extent of some spatial axes (normalisation with per-example statistics
# over them) while keeping the input's size: the declared window (2S - 1 wide, centred on each output) hangs
# past the input's edges for every output, so the measured field is compared with the declared window
# clipped to the input, on the example's shape (test_receptive_field_seeing_whole_axes_matches_influence).
CLIPPED_FIELD = {"LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm3d"}

# Up-sampling layers: outputs are denser than inputs, so the jump is fractional and no field names whole
# pixels exactly; the declared field is an envelope (every input pixel that moves an output lies inside the
# output's declared window), and the measured field is compared with it by containment.
ENVELOPE_FIELD = {"Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle"}


def example_input(name, module, shape, rng, dtype=np.float32):
    """A random input for layer ``name``: indices for an index layer, else standard-normal values."""
    if name in INDEX_INPUT:
        return rng.integers(0, INDEX_INPUT[name](module), size=shape)
    return rng.standard_normal(shape).astype(dtype)


def wrap(name, x, **kwargs):
    """An index array as it is, values as a ``Tensor`` (``kwargs``: ``requires_grad``, ``dtype``)."""
    return x if name in INDEX_INPUT else st.Tensor(x, **kwargs)


def build(name):
    module, shape = LAYERS[name]()
    return module, tuple(shape)


def reseed(module, seed=1234):
    """Give every module that draws random numbers (dropout) the same fresh generator."""
    for m in module.modules():
        if isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng = np.random.default_rng(seed)


def buffer_state(module):
    """A copy of the buffers only (parameters are excluded), for ``load_state_dict(strict=False)``."""
    params = {name for name, _ in module.named_parameters()}
    return {k: v for k, v in module.state_dict().items() if k not in params}


def test_registry_is_not_empty():
    assert len(LAYERS) >= 20
    for name, factory in LAYERS.items():
        assert callable(factory), name


def test_every_public_layer_is_registered():
    """Every Module subclass exported by strided.nn (bar the base, containers and losses) is registered."""
    excluded = {"Module", "Block", "Sequential", "CrossEntropyLoss", "MSELoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
                "KLDivLoss", "MultiMarginLoss", "L1Loss", "SmoothL1Loss", "HuberLoss"}
    excluded |= {"MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"}   # two inputs (values, indices): test_pool_options.py
    excluded |= {"ModuleList", "ModuleDict", "ParameterList"}   # hold items, no forward: test_containers.py
    public = {name for name in nn.__all__
              if inspect.isclass(getattr(nn, name)) and issubclass(getattr(nn, name), Module)}
    layers = public - excluded
    assert {"Conv2d", "Linear", "BatchNorm2d", "MaxPool2d", "ReLU"} <= layers   # the scan sees the layers
    missing = sorted(layers - set(LAYERS))
    assert not missing, f"public layers missing from the registry: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_factory_builds_the_registered_class(name):
    module, shape = build(name)
    assert type(module).__name__ == name
    assert isinstance(module, Module)
    assert all(isinstance(n, int) and n >= 1 for n in shape)


# --------------------------------------------------------------------------------------------- shape


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", NAMES)
def test_declared_output_shape_equals_forward_shape(name, training):
    module, shape = build(name)
    module.train(training)
    # a batch of one as well, in evaluation (training batch norm needs more than one value per channel)
    shapes = [shape] if training else [shape, (1,) + shape[1:]]
    for in_shape in shapes:
        x = example_input(name, module, in_shape, np.random.default_rng(0))
        out = module(wrap(name, x))
        assert tuple(module.output_shape(in_shape)) == out.shape, f"{name} on {in_shape}"


# --------------------------------------------------------------------------------------------- cost


@pytest.mark.parametrize("name", NAMES)
def test_declared_params_equal_real_parameter_count(name):
    module, shape = build(name)
    real = sum(p.data.size for p in module.parameters())
    cost = module.cost(shape)
    assert cost.params == real
    assert cost.macs >= 0


# Other input ranks a layer accepts besides its example's: declared shape == forward shape there too.
OTHER_SHAPES = {
    "Unflatten": [(4, 6, 5), (3, 8)],
    "LayerNorm": [(5,), (4, 5), (2, 2, 3, 4, 5)],
    "GroupNorm": [(2, 4), (2, 4, 5), (1, 4, 2, 2, 3)],
    "InstanceNorm1d": [(3, 5)],                         # unbatched (C, L)
    "InstanceNorm2d": [(3, 4, 4)],
    "InstanceNorm3d": [(2, 3, 3, 3)],
    "Dropout1d": [(6, 5)],
    "Dropout3d": [(6, 2, 2, 3)],
    "Embedding": [(), (7,), (2, 3, 4)],
    "PReLU": [(2, 3), (1, 3, 2, 2), (1, 3, 2, 2, 2)],
    "Linear": [(5,), (2, 3, 5)],
    "BatchNorm1d": [(4, 3)],
    "Flatten": [(2, 3), (2, 3, 4)],
    "GlobalAvgPool": [(2, 3, 4), (1, 2, 2, 3, 2)],
    "GlobalMaxPool": [(2, 3, 4, 5)],
    "Softmax": [(2, 3), (1, 3, 2, 2)],
    "LogSoftmax": [(2, 3), (1, 3, 2, 2)],
}


@pytest.mark.parametrize("name", sorted(OTHER_SHAPES))
def test_declared_output_shape_on_other_accepted_ranks(name):
    module, _ = build(name)
    module.eval()
    for shape in OTHER_SHAPES[name]:
        x = example_input(name, module, shape, np.random.default_rng(0))
        assert tuple(module.output_shape(shape)) == module(x).shape, f"{name} on {shape}"


# --------------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", NAMES)
def test_backward_equals_central_differences(name, training):
    module, shape = build(name)
    module.double().train(training)
    rng = np.random.default_rng(1)
    for p in module.parameters():   # move parameters off their special initial values (BN's ones/zeros)
        p.data += 0.1 * rng.standard_normal(p.shape)
    x_data = example_input(name, module, shape, rng, np.float64)
    upstream = rng.standard_normal(module.output_shape(shape))
    buffers = buffer_state(module)   # BatchNorm updates running stats in training: restore before each run

    def loss_value():
        module.load_state_dict(buffers, strict=False)
        reseed(module)               # dropout draws the same mask every time
        with st.no_grad():
            out = module(wrap(name, x_data, dtype=np.float64))
        return float(np.sum(out.data * upstream))

    module.load_state_dict(buffers, strict=False)
    reseed(module)
    module.zero_grad()
    x = wrap(name, x_data, requires_grad=True, dtype=np.float64)
    out = module(x)
    assert out.dtype == np.float64, f"{name} does not compute in float64 after .double()"
    (out * st.Tensor(upstream, dtype=np.float64)).sum().backward()

    if name not in INDEX_INPUT:      # an index array has no gradient
        assert x.grad is not None and x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad, numerical_grad(loss_value, x_data), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{name}: input gradient")
    for pname, p in module.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        np.testing.assert_allclose(p.grad, numerical_grad(loss_value, p.data), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{name}.{pname}: parameter gradient")


def test_dropout_is_really_random_in_training():
    """The gradient check above pins dropout's mask; make sure pinning is what made it deterministic."""
    module, shape = build("Dropout")
    x = np.ones((200, 50), dtype=np.float32)
    a, b = module(x).data, module(x).data
    assert not np.array_equal(a, b)
    assert set(np.unique(a)) <= {0.0, np.float32(1 / (1 - module.p))}
    assert abs((a == 0).mean() - module.p) < 0.02
    module.eval()
    np.testing.assert_array_equal(module(x).data, x)


# --------------------------------------------------------------------------------------------- state


def perturb_state(module, rng):
    """Give every parameter and floating buffer new values, so a load has something to change."""
    for p in module.parameters():
        p.data = (p.data + rng.standard_normal(p.shape)).astype(p.data.dtype)
    module.load_state_dict({k: (v + rng.uniform(0.5, 1.0, np.shape(v))).astype(v.dtype)
                            if np.issubdtype(v.dtype, np.floating) else v + 3
                            for k, v in buffer_state(module).items()}, strict=False)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_into_a_fresh_instance(name):
    rng = np.random.default_rng(2)
    trained, shape = build(name)
    perturb_state(trained, rng)
    state = trained.state_dict()
    assert list(state) == [k for k, _ in trained.named_parameters()] + list(buffer_state(trained))

    fresh, _ = build(name)
    x = wrap(name, example_input(name, trained, shape, rng))
    trained.eval()
    fresh.eval()
    expected = trained(x).data.copy()
    if state:
        assert not np.allclose(fresh(x).data, expected), "the load would change nothing"
    missing, unexpected = fresh.load_state_dict(state)
    assert list(missing) == [] and list(unexpected) == []
    np.testing.assert_array_equal(fresh(x).data, expected)
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
        assert value.dtype == state[key].dtype
    # the loaded arrays are copies: changing the dict afterwards does not reach the module
    for value in state.values():
        value[...] = 7
    np.testing.assert_array_equal(fresh(x).data, expected)


# --------------------------------------------------------------------------------------------- errors


def test_wrong_rank_table_names_registered_layers():
    assert set(WRONG_RANK) <= set(LAYERS)
    assert RANK_AGNOSTIC <= set(LAYERS) and UNBATCHED <= set(LAYERS)
    assert set(INDEX_INPUT) <= set(LAYERS) and CLIPPED_FIELD <= set(LAYERS)
    assert ENVELOPE_FIELD <= set(LAYERS)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in RANK_AGNOSTIC and n not in INDEX_INPUT])
def test_wrong_rank_input_raises_shape_error_naming_layer_and_shape(name):
    module, shape = build(name)
    bad = WRONG_RANK.get(name, (lambda s: s[:-2]) if name in UNBATCHED else (lambda s: s[:-1]))(shape)
    assert len(bad) != len(shape)
    x = st.Tensor(np.zeros(bad, dtype=np.float32))
    with pytest.raises(st.ShapeError) as info:
        module(x)
    message = str(info.value)
    assert name in message, message
    assert str(tuple(bad)) in message, message
    with pytest.raises(st.ShapeError) as info:
        module.output_shape(bad)
    assert name in str(info.value) and str(tuple(bad)) in str(info.value)


@pytest.mark.parametrize("name", sorted(RANK_AGNOSTIC))
def test_rank_agnostic_layers_accept_every_rank(name):
    module, _ = build(name)
    module.eval()
    for shape in [(5,), (2, 3), (2, 3, 4), (1, 2, 3, 4, 5)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        assert module(x).shape == shape == module.output_shape(shape)


# --------------------------------------------------------------------------------------------- rules


def overrides(cls, rule):
    return getattr(cls, rule) is not getattr(Module, rule)


@pytest.mark.parametrize("name", NAMES)
def test_no_static_rule_missing(name):
    """Each rule is overridden, or the inherited identity rule is right for this layer.

    Inheriting ``output_shape`` is right only when the forward keeps the shape; inheriting
    ``cost`` (own parameters, 0 MACs) only for a layer without parameters; inheriting
    ``receptive_field`` (unchanged) only when the spatial axes are unchanged.
    """
    module, shape = build(name)
    cls = type(module)
    module.eval()
    out_shape = module(np.zeros(shape, dtype=np.int64 if name in INDEX_INPUT else np.float32)).shape
    for rule in ("output_shape", "cost", "receptive_field"):
        assert callable(getattr(module, rule))
    if not overrides(cls, "output_shape"):
        assert out_shape == shape, f"{name} changes the shape but inherits output_shape"
    if not overrides(cls, "cost"):
        assert sum(p.size for p in module.parameters()) == 0, f"{name} has parameters but inherits cost"
    if not overrides(cls, "receptive_field"):
        assert out_shape[2:] == shape[2:], f"{name} changes spatial axes but inherits receptive_field"


@pytest.mark.parametrize("name", NAMES)
def test_receptive_field_has_one_entry_per_spatial_axis(name):
    module, shape = build(name)
    d = len(shape) - 2
    rf = module.receptive_field(ReceptiveField.identity(max(d, 0)), shape)
    assert isinstance(rf, ReceptiveField)
    if d >= 1:
        assert len(rf.size) == len(rf.jump) == len(rf.start) == d
        assert all(s >= 1 for s in rf.size) and all(j > 0 if name in ENVELOPE_FIELD else j >= 1 for j in rf.jump)


def influence(module, shape, out_index, rng):
    """Spatial input positions whose perturbation changes ``output[out_index]`` (the measured field).

    One batch row per input position: row 0 is the unperturbed input, row ``1 + i`` has position
    ``i`` (all channels at once, by different large amounts) raised. Returns the positions.
    """
    c, spatial = shape[1], shape[2:]
    positions = list(np.ndindex(*spatial))
    base = rng.standard_normal((1, c) + spatial)
    batch = np.repeat(base, len(positions) + 1, axis=0)
    bump = rng.uniform(50.0, 100.0, size=c)
    for row, pos in enumerate(positions, start=1):
        batch[(row, slice(None)) + pos] += bump
    out = module(st.Tensor(batch, dtype=np.float64)).data
    ref = out[(0,) + out_index]
    moved = [pos for row, pos in enumerate(positions, start=1)
             if not np.allclose(out[(row,) + out_index], ref, rtol=0, atol=1e-9)]
    return moved


def declared_window(rf, o_spatial):
    """Input index range ``[lo, hi]`` per axis that the declared field gives output ``o_spatial``."""
    centre = [rf.start[a] + o * rf.jump[a] for a, o in enumerate(o_spatial)]
    return ([c - (s - 1) / 2 for c, s in zip(centre, rf.size)], [c + (s - 1) / 2 for c, s in zip(centre, rf.size)])


@pytest.mark.parametrize("name", [n for n in NAMES if n not in CLIPPED_FIELD])
def test_receptive_field_matches_measured_influence(name):
    """Declared size, jump and start agree with the pixels that really move an output.

    Measured for outputs whose declared window lies inside the input (padding would clip what
    can be seen), the first, second and last such output on every axis, so the jump counts too.
    The example input is enlarged until such outputs exist. Layers without spatial axes in
    their input have nothing to measure; layers that drop the spatial axes (flatten, global
    pooling without keepdims) must declare a field covering the whole input.
    """
    module, shape = build(name)
    module.double().eval()
    if len(shape) < 3:
        assert module.receptive_field(ReceptiveField.identity(0), shape) == ReceptiveField.identity(0)
        return
    rng = np.random.default_rng(3)
    d = len(shape) - 2
    for scale in (1, 2, 3):
        big = shape[:2] + tuple(scale * n for n in shape[2:])
        out_shape = module.output_shape(big)
        rf = module.receptive_field(ReceptiveField.identity(d), big)
        if len(out_shape) != len(big):
            assert tuple(rf.size) == big[2:], f"{name} drops the spatial axes but does not see the whole input"
            return
        inside = []   # per axis, the outputs whose declared window is inside the input
        for a in range(d):
            axis_ok = []
            for o in range(out_shape[2 + a]):
                one = [0] * d
                one[a] = o
                lo, hi = declared_window(rf, one)
                if lo[a] >= 0 and hi[a] <= big[2 + a] - 1:
                    axis_ok.append(o)
            inside.append(axis_ok)
        if all(len(ok) >= 2 or (ok and out_shape[2 + a] == 1) for a, ok in enumerate(inside)):
            break
    else:
        pytest.fail(f"{name}: no output has its declared window inside the input")
    picks = {tuple(ok[0] for ok in inside), tuple(ok[min(1, len(ok) - 1)] for ok in inside),
             tuple(ok[-1] for ok in inside)}
    for o_spatial in sorted(picks):
        lo, hi = declared_window(rf, o_spatial)
        moved = influence(module, big, (slice(None),) + o_spatial, rng)   # any output channel
        assert moved, f"{name}: nothing moves output {o_spatial}"
        for a in range(d):
            seen = [pos[a] for pos in moved]
            if name in ENVELOPE_FIELD:
                assert lo[a] <= min(seen) and max(seen) <= hi[a], (
                    f"{name} output {o_spatial} axis {a}: declared envelope [{lo[a]}, {hi[a]}], "
                    f"measured [{min(seen)}, {max(seen)}]")
                continue
            assert (min(seen), max(seen)) == (lo[a], hi[a]), (
                f"{name} output {o_spatial} axis {a}: declared window [{lo[a]}, {hi[a]}], "
                f"measured [{min(seen)}, {max(seen)}]")


@pytest.mark.parametrize("name", sorted(CLIPPED_FIELD))
def test_receptive_field_seeing_whole_axes_matches_influence(name):
    """For the layers of ``CLIPPED_FIELD``: on the example's shape, the first, second and last output
    of every axis (and the corners) are moved by exactly the input positions inside their declared
    window clipped to the input, and on some axis that window reaches past the input's edges."""
    module, shape = build(name)
    module.double().eval()
    d = len(shape) - 2
    assert d >= 1, f"{name}: the example needs a spatial axis"
    out_shape = module.output_shape(shape)
    assert out_shape[2:] == shape[2:], f"{name} changes the spatial size"
    rf = module.receptive_field(ReceptiveField.identity(d), shape)
    per_axis = [sorted({0, min(1, n - 1), n - 1}) for n in shape[2:]]
    past_edges = False
    for o_spatial in {tuple(ok[i] for ok in per_axis) for i in range(3)} | {tuple(0 for _ in per_axis)}:
        o_spatial = tuple(min(o, n - 1) for o, n in zip(o_spatial, shape[2:]))
        lo, hi = declared_window(rf, o_spatial)
        moved = influence(module, shape, (slice(None),) + o_spatial, np.random.default_rng(3))
        assert moved, f"{name}: nothing moves output {o_spatial}"
        for a in range(d):
            seen = [pos[a] for pos in moved]
            clipped = (max(lo[a], 0), min(hi[a], shape[2 + a] - 1))
            past_edges |= lo[a] < 0 or hi[a] > shape[2 + a] - 1
            assert (min(seen), max(seen)) == clipped and len(set(seen)) == clipped[1] - clipped[0] + 1, (
                f"{name} output {o_spatial} axis {a}: declared window [{lo[a]}, {hi[a]}] clipped to {clipped}, "
                f"measured {sorted(set(seen))}")
    assert past_edges, f"{name} is in CLIPPED_FIELD but its declared windows lie inside the input"
