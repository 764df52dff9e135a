"""from_spec: the lectures' notation builds the network it describes; bad tokens are pointed at."""

from __future__ import annotations

import numpy as np
import pytest

from strided import ShapeError, nn


def test_layers_built_from_tokens():
    net = nn.from_spec("conv3-8 bn maxpool conv1-4 avgpool gap FC-16 dropout FC-10 softmax", (3, 16, 16), rng=0)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Conv2d", "ReLU", "BatchNorm2d", "MaxPool2d", "Conv2d", "ReLU", "AvgPool2d", "GlobalAvgPool",
                     "Linear", "ReLU", "Dropout", "Linear", "Softmax"]
    assert net[0].in_channels == 3 and net[0].padding == "same" and net[0].kernel_size == (3, 3)
    assert net[4].kernel_size == (1, 1) and net[4].in_channels == 8
    assert net.output_shape((2, 3, 16, 16)) == (2, 10)
    out = net.eval()(np.random.default_rng(0).standard_normal((2, 3, 16, 16)))
    assert out.shape == (2, 10) and np.allclose(out.data.sum(axis=1), 1, atol=1e-6)


def test_fc_flattens_and_last_fc_has_no_relu():
    net = nn.from_spec("conv3-4 maxpool3/2 FC-10", (1, 9, 9), rng=0)
    assert [type(m).__name__ for m in net] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert net[4].in_features == 4 * 4 * 4    # 9 -> maxpool 3/2 -> floor((9-3)/2)+1 = 4


def test_parameter_count_by_hand():
    net = nn.from_spec("conv3-8 maxpool FC-10 softmax", (1, 8, 8), rng=0)
    assert net.num_parameters() == (9 + 1) * 8 + (8 * 4 * 4 + 1) * 10


def test_case_insensitive_and_commas():
    net = nn.from_spec("CONV3-4, MaxPool, fc-3", (2, 4, 4), rng=0)
    assert net.output_shape((1, 2, 4, 4)) == (1, 3)


@pytest.mark.parametrize("spec, token", [("conv3-64 conv3_64 maxpool", "conv3_64"), ("conv3-8 pool", "pool"),
                                         ("FC-10 FC-x", "FC-x")])
def test_unparsable_token_is_pointed_at(spec, token):
    with pytest.raises(ValueError) as info:
        nn.from_spec(spec, (3, 8, 8))
    message = str(info.value)
    assert f"{token!r}" in message and "expected one of" in message
    caret_line = message.splitlines()[-1]
    assert caret_line.index("^") == 2 + spec.index(token) and caret_line.count("^") == len(token)


def test_geometry_that_does_not_fit_names_the_token():
    with pytest.raises(ShapeError, match=r"token 4 'maxpool' does not fit: MaxPool2d"):
        nn.from_spec("conv3-4 maxpool maxpool maxpool", (1, 4, 4))
