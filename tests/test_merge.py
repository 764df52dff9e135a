"""concat, the Concat container and the Inception-v1 MultiScaleBlock, against PyTorch."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import strided as st
import strided.nn.functional as F
from module_oracle import check_module_against_torch
from oracle import TorchModule, check_against_torch, needs_torch, torch
from strided import nn
from strided.geometry import ReceptiveField


# ------------------------------------------------------------------------------------------ concat
@needs_torch
@pytest.mark.parametrize("shapes,dim", [
    ([(2, 3, 4, 4), (2, 5, 4, 4), (2, 1, 4, 4)], 1),
    ([(1, 3, 4), (2, 3, 4)], 0),
    ([(2, 3, 4, 2), (2, 3, 4, 5)], -1),
    ([(2, 6, 3)], 1),
])
def test_concat_matches_torch_cat(shapes, dim):
    check_against_torch(lambda *xs: F.concat(xs, dim=dim), lambda *xs: torch.cat(xs, dim=dim), shapes)


def test_concat_gradient_goes_back_to_each_input_in_its_dtype():
    a = st.Tensor(np.ones((1, 2, 3)), requires_grad=True, dtype=np.float32)
    b = st.Tensor(np.ones((1, 1, 3)), requires_grad=True, dtype=np.float64)
    out = F.concat([a, b])
    assert out.shape == (1, 3, 3) and out.dtype == np.float64
    out.backward(np.arange(9.0).reshape(1, 3, 3))
    np.testing.assert_array_equal(a.grad, np.arange(6.0).reshape(1, 2, 3))
    np.testing.assert_array_equal(b.grad, np.arange(6.0, 9.0).reshape(1, 1, 3))
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_concat_of_the_same_tensor_twice_accumulates():
    x = st.Tensor(np.ones((1, 2, 2)), requires_grad=True)
    F.concat([x, x]).sum().backward()
    np.testing.assert_array_equal(x.grad, 2.0)


def test_concat_errors():
    with pytest.raises(st.ShapeError, match=r"concat: expected shapes that agree on every axis but 1, "
                                             r"got \(2, 3, 4, 4\), \(2, 5, 4, 5\)"):
        F.concat([np.zeros((2, 3, 4, 4)), np.zeros((2, 5, 4, 5))])
    with pytest.raises(st.ShapeError, match=r"concat: expected shapes .*got \(2, 3\), \(2, 3, 1\)"):
        F.concat([np.zeros((2, 3)), np.zeros((2, 3, 1))])
    with pytest.raises(st.ShapeError, match=r"concat: dim 3 is out of range for inputs of rank 3"):
        F.concat([np.zeros((2, 3, 4))], dim=3)
    with pytest.raises(ValueError, match="concat: expected at least one tensor"):
        F.concat([])
    with pytest.raises(TypeError, match="concat: expected a list or tuple of tensors, got ndarray"):
        F.concat(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="concat: dim must be an int"):
        F.concat([np.zeros((2, 3))], dim=1.0)


# ------------------------------------------------------------------------------------------ Concat
class TorchConcat(TorchModule):
    def __init__(self, *branches):
        super().__init__()
        for i, branch in enumerate(branches):
            self.add_module(str(i), branch)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.children()], dim=1)


@needs_torch
def test_concat_container_matches_torch():
    ours = nn.Concat(nn.Conv2d(3, 2, 1, rng=0), nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, rng=1), nn.Tanh()),
                     nn.MaxPool2d(3, 1, padding=1))
    theirs = TorchConcat(torch.nn.Conv2d(3, 2, 1),
                         torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh()),
                         torch.nn.MaxPool2d(3, 1, padding=1))
    out = check_module_against_torch(ours, theirs, (2, 3, 6, 5))
    assert out.shape == (2, 9, 6, 5)
    assert list(ours.state_dict()) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias"]


def test_concat_container_static_rules():
    a, b = nn.Conv2d(3, 4, 1, rng=0), nn.Conv2d(3, 6, 5, padding=2, rng=0)
    block = nn.Concat(OrderedDict(small=a, large=b))
    shape, rf = (2, 3, 8, 8), ReceptiveField(size=(3, 3), jump=(2, 2), start=(1.0, 1.0))
    assert block.output_shape(shape) == (2, 10, 8, 8) == block(np.zeros(shape)).shape
    assert block.cost(shape) == a.cost(shape) + b.cost(shape)
    assert block.receptive_field(rf, shape) == ReceptiveField.merge([a.receptive_field(rf, shape),
                                                                    b.receptive_field(rf, shape)])
    assert [name for name, _ in block.named_children()] == ["small", "large"]


def measured_field(module, shape, out_spatial):
    """Input positions that move any output channel at ``out_spatial`` (the union over channels)."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal(shape)
    with st.no_grad():
        ref = module(st.Tensor(base, dtype=np.float64)).data[(0, slice(None)) + out_spatial]
        moved = []
        for pos in np.ndindex(*shape[2:]):
            x = base.copy()
            x[(0, slice(None)) + pos] += 10.0
            out = module(st.Tensor(x, dtype=np.float64)).data[(0, slice(None)) + out_spatial]
            if not np.allclose(out, ref, rtol=0, atol=1e-9):
                moved.append(pos)
    return [(min(p[a] for p in moved), max(p[a] for p in moved)) for a in range(len(shape) - 2)]


def test_merged_receptive_field_is_the_union_over_channels():
    """The 1x1 branch comes first, so the largest field is not channel 0's."""
    block = nn.Concat(nn.Conv2d(2, 3, 1, rng=0), nn.Conv2d(2, 2, (3, 5), padding=(1, 2), rng=1)).double()
    shape = (1, 2, 7, 9)
    rf = block.receptive_field(ReceptiveField.identity(2), shape)
    for o in [(3, 4), (1, 2)]:
        declared = [(rf.start[a] + o[a] * rf.jump[a] - (rf.size[a] - 1) / 2,
                     rf.start[a] + o[a] * rf.jump[a] + (rf.size[a] - 1) / 2) for a in range(2)]
        assert measured_field(block, shape, o) == declared


def test_concat_container_errors():
    block = nn.Concat(nn.Conv2d(3, 2, 3, rng=0), nn.Conv2d(3, 2, 1, rng=0))
    with pytest.raises(st.ShapeError, match=r"Concat\(2 branches\): expected shapes that agree on every axis but 1, "
                                             r"got \(1, 2, 4, 4\), \(1, 2, 6, 6\)"):
        block.output_shape((1, 3, 6, 6))
    with pytest.raises(st.ShapeError, match=r"Concat\(2 branches\): expected shapes .* \(1, 2, 4, 4\), \(1, 2, 6, 6\)"):
        block(np.zeros((1, 3, 6, 6)))
    with pytest.raises(st.ShapeError, match=r"Concat\(2 branches\): branch '0': Conv2d\(3, 2, .*got \(1, 4, 6, 6\)"):
        block(np.zeros((1, 4, 6, 6)))
    with pytest.raises(ValueError, match="Concat: expected at least one branch"):
        nn.Concat()
    with pytest.raises(TypeError, match="Concat: branch '1' is a int, expected a Module"):
        nn.Concat(nn.ReLU(), 3)


# ------------------------------------------------------------------------------------------ MultiScaleBlock
class TorchInceptionV1(TorchModule):
    """The paper's Inception module (biases, no batch norm), named like torchvision's ``Inception``."""

    def __init__(self, c_in, c1, c3r, c3, c5r, c5, pool_proj):
        super().__init__()
        conv, relu = torch.nn.Conv2d, torch.nn.ReLU
        self.branch1 = torch.nn.Sequential(conv(c_in, c1, 1), relu())
        self.branch2 = torch.nn.Sequential(conv(c_in, c3r, 1), relu(), conv(c3r, c3, 3, padding=1), relu())
        self.branch3 = torch.nn.Sequential(conv(c_in, c5r, 1), relu(), conv(c5r, c5, 5, padding=2), relu())
        self.branch4 = torch.nn.Sequential(torch.nn.MaxPool2d(3, 1, padding=1), conv(c_in, pool_proj, 1), relu())

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


@needs_torch
def test_multiscale_block_matches_torch():
    sizes = (5, 3, 2, 4, 2, 3, 2)
    out = check_module_against_torch(nn.MultiScaleBlock(*sizes, rng=0), TorchInceptionV1(*sizes), (2, 5, 7, 6))
    assert out.shape == (2, 3 + 4 + 3 + 2, 7, 6)
    assert (out == 0).any() and (out > 0).any(), "the ReLUs should be active and inactive somewhere"


def test_inception_3a_counts_by_hand():
    block = nn.MultiScaleBlock(192, 64, 96, 128, 16, 32, 32, rng=0)
    shape = (1, 192, 28, 28)
    weights = 192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert block.num_parameters() == weights + biases == 163_696
    assert block.cost(shape) == (163_696, 28 * 28 * weights) and block.cost(shape).macs == 128_049_152  # paper: 128M
    assert block.output_shape(shape) == (1, 256, 28, 28)
    s = st.summary(block, shape)
    assert s.params == 163_696 and s.macs == 128_049_152 and len(s.rows) == 13


def test_multiscale_block_receptive_field():
    block = nn.MultiScaleBlock(4, 2, 2, 2, 2, 2, 2, rng=0)
    assert block.receptive_field(ReceptiveField.identity(2), (1, 4, 9, 9)) == ReceptiveField((5, 5), (1, 1),
                                                                                            (0.0, 0.0))
    rf = ReceptiveField(size=(7, 7), jump=(4, 4), start=(1.5, 1.5))                  # deeper in a network
    assert block.receptive_field(rf, (1, 4, 9, 9)) == ReceptiveField((23, 23), (4, 4), (1.5, 1.5))


def test_multiscale_block_state_keys_and_errors():
    block = nn.MultiScaleBlock(3, 1, 1, 1, 1, 1, 1, rng=0)
    assert list(block.state_dict())[:4] == ["branch1.0.weight", "branch1.0.bias", "branch2.0.weight", "branch2.0.bias"]
    assert "branch2.2.weight" in block.state_dict() and "branch4.1.weight" in block.state_dict()
    with pytest.raises(st.ShapeError, match=r"MultiScaleBlock\(3, 1, 1, 1, 1, 1, 1\): branch 'branch1': .*"
                                             r"expected input \(N, 3, H, W\), got \(2, 4, 8, 8\)"):
        block(np.zeros((2, 4, 8, 8)))
    with pytest.raises(st.ShapeError, match=r"MultiScaleBlock\(3, .*got \(2, 3, 8\)"):
        block.output_shape((2, 3, 8))
    with pytest.raises(ValueError, match="MultiScaleBlock: c5x5 must be a positive int, got 0"):
        nn.MultiScaleBlock(3, 1, 1, 1, 1, 0, 1)
