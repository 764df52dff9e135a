"""summary(): published parameter counts, MACs and receptive fields, and hand-computed small networks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import strided as st
from strided import nn
from strided.geometry import ReceptiveField
from strided.nn.block import Block

VGG16 = ("conv3-64 conv3-64 maxpool conv3-128 conv3-128 maxpool conv3-256 conv3-256 conv3-256 maxpool "
         "conv3-512 conv3-512 conv3-512 maxpool conv3-512 conv3-512 conv3-512 maxpool FC-4096 FC-4096 FC-1000 softmax")

# Lecture 002 (cs231n), the VGG-16 table: per layer, output values ("memory") and weights
# ("params", not counting biases), written out from the lecture.
CS231N_VGG16 = [
    ("CONV3-64", 224 * 224 * 64, (3 * 3 * 3) * 64), ("CONV3-64", 224 * 224 * 64, (3 * 3 * 64) * 64),
    ("POOL2", 112 * 112 * 64, 0),
    ("CONV3-128", 112 * 112 * 128, (3 * 3 * 64) * 128), ("CONV3-128", 112 * 112 * 128, (3 * 3 * 128) * 128),
    ("POOL2", 56 * 56 * 128, 0),
    ("CONV3-256", 56 * 56 * 256, (3 * 3 * 128) * 256), ("CONV3-256", 56 * 56 * 256, (3 * 3 * 256) * 256),
    ("CONV3-256", 56 * 56 * 256, (3 * 3 * 256) * 256),
    ("POOL2", 28 * 28 * 256, 0),
    ("CONV3-512", 28 * 28 * 512, (3 * 3 * 256) * 512), ("CONV3-512", 28 * 28 * 512, (3 * 3 * 512) * 512),
    ("CONV3-512", 28 * 28 * 512, (3 * 3 * 512) * 512),
    ("POOL2", 14 * 14 * 512, 0),
    ("CONV3-512", 14 * 14 * 512, (3 * 3 * 512) * 512), ("CONV3-512", 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("CONV3-512", 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("POOL2", 7 * 7 * 512, 0),
    ("FC", 4096, 7 * 7 * 512 * 4096), ("FC", 4096, 4096 * 4096), ("FC", 1000, 4096 * 1000),
]


@pytest.fixture(scope="module")
def vgg16_summary():
    return st.summary(nn.from_spec(VGG16, (3, 224, 224), rng=0), (1, 3, 224, 224))


def test_vgg16_totals_match_published_figures(vgg16_summary):
    assert vgg16_summary.params == 138_357_544            # torchvision vgg16
    assert round(vgg16_summary.macs / 1e9, 2) == 15.47     # torchvision: 15.47 GFLOPS (MACs)
    assert vgg16_summary.output_shape == (1, 1000)


def test_vgg16_receptive_field_212_at_last_pool(vgg16_summary):
    pools = [row for row in vgg16_summary.rows if row.type == "MaxPool2d"]
    assert pools[-1].receptive_field.size == (212, 212)
    assert pools[-1].receptive_field.jump == (32, 32)


def test_vgg16_matches_cs231n_table_layer_by_layer(vgg16_summary):
    weighted = [row for row in vgg16_summary.rows if row.type in ("Conv2d", "MaxPool2d", "Linear")]
    assert len(weighted) == len(CS231N_VGG16)
    for row, (name, memory, weights) in zip(weighted, CS231N_VGG16):
        assert row.memory_values == memory, name
        assert row.memory_bytes == 4 * memory, name
        assert row.weights == weights, name


def alexnet_torchvision_layout():
    """torchvision's AlexNet at 224x224 (where its adaptive pool is the identity), built by hand."""
    rng = np.random.default_rng(0)
    features = nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1, rng=rng), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, rng=rng), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(3, 2))
    classifier = nn.Sequential(
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096, rng=rng), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 4096, rng=rng), nn.ReLU(), nn.Linear(4096, 1000, rng=rng))
    return nn.Sequential(features, classifier)


def test_alexnet_params_macs_and_receptive_field():
    result = st.summary(alexnet_torchvision_layout(), (1, 3, 224, 224))
    assert result.params == 61_100_840                     # torchvision alexnet
    assert round(result.macs / 1e9, 2) == 0.71             # torchvision: 0.71 GFLOPS
    last_pool = [row for row in result.rows if row.type == "MaxPool2d"][-1]
    assert last_pool.name == "0.12"
    assert last_pool.receptive_field.size == (195, 195)    # Araujo et al.
    assert last_pool.output_shape == (1, 256, 6, 6)


def test_lenet5_rows_by_hand():
    result = st.summary(st.models.create_model("lenet5"), (1, 1, 32, 32))
    assert result.params == 61_706
    convs = [row for row in result.rows if row.type == "Conv2d"]
    # conv1: 28*28 outputs x 6 channels x 25 taps; conv2: 10*10 x 16 x (6*25)
    assert [row.macs for row in convs] == [28 * 28 * 6 * 25, 10 * 10 * 16 * 6 * 25]
    assert result.macs == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert [row.name for row in result.rows][:3] == ["features.0", "features.1", "features.2"]
    # receptive fields by hand: 5 -> pool 6 (jump 2) -> conv 6 + 4*2 = 14 -> pool 16 (jump 4)
    sizes = [row.receptive_field.size[0] for row in result.rows[:6]]
    assert sizes == [5, 5, 6, 14, 14, 16]


def test_grouped_depthwise_and_strided_costs_by_hand():
    net = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4, rng=0),
                        nn.Conv2d(16, 16, 3, stride=2, padding="same", groups=16, rng=0))
    rows = st.summary(net, (2, 8, 10, 10)).rows
    assert rows[0].macs == 10 * 10 * 16 * (8 // 4) * 9
    assert rows[1].output_shape == (2, 16, 5, 5)
    assert rows[1].macs == 5 * 5 * 16 * 1 * 9
    assert rows[0].params == 16 * 2 * 9 + 16
    assert rows[0].memory_values == 2 * 16 * 10 * 10


class Residual(Block):
    """y = body(x) + x, the smallest residual block, for the walk of a two-branch network."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, rng=0), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1, rng=1))

    def forward(self, x):
        return self.body(x) + x

    def walk(self, in_shape, rf, visit):
        return self.join_add([self.body.walk(in_shape, rf, visit), (tuple(in_shape), rf)])


def test_residual_block_rows_and_receptive_field():
    net = nn.Sequential(Residual(4), nn.MaxPool2d(2))
    result = st.summary(net, (1, 4, 8, 8))
    assert [row.name for row in result.rows] == ["0.body.0", "0.body.1", "0.body.2", "1"]
    # the residual output sees the 5x5 of the body (and the 1x1 skip): max is 5; then the pool
    assert result.rows[-1].receptive_field == ReceptiveField((6, 6), (2, 2), (0.5, 0.5))
    assert net.output_shape((1, 4, 8, 8)) == net(np.zeros((1, 4, 8, 8), dtype=np.float32)).shape
    assert result.params == 2 * (4 * 4 * 9 + 4)


def test_summary_runs_no_forward_pass(monkeypatch):
    def refuse(self, *args):
        raise AssertionError("summary must not run forward()")
    for cls in (nn.Conv2d, nn.Linear, nn.ReLU, nn.MaxPool2d, nn.Flatten):
        monkeypatch.setattr(cls, "forward", refuse)
    result = st.summary(st.models.create_model("lenet5"), (1, 1, 32, 32))
    assert result.output_shape == (1, 10)


def test_renderings_and_dict_shape():
    result = st.summary(st.models.create_model("lenet5"), (1, 1, 32, 32))
    data = json.loads(result.to_json())
    assert set(data) >= {"layers", "total"}
    layer = data["layers"][0]
    assert {"name", "type", "output_shape", "params", "macs", "memory_bytes", "receptive_field"} <= set(layer)
    assert layer["receptive_field"] == {"size": [5, 5], "jump": [1, 1], "start": [2.0, 2.0]}
    assert data["total"]["params"] == data["total"]["trainable_params"] == 61_706
    text, markdown = result.to_text(), result.to_markdown()
    assert "features.3" in text and "61,706" in text
    assert markdown.count("\n|") == len(result.rows) + 2 and "| features.0 | Conv2d |" in markdown


def test_frozen_parameters_are_reported():
    net = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Linear(4, 2, rng=0))
    net[0].weight.requires_grad = False
    result = st.summary(net, (1, 3))
    assert result.params == 3 * 4 + 4 + 4 * 2 + 2
    assert result.trainable_params == result.params - 12
    assert result.rows[0].receptive_field is None


def test_vgg11_parameters_from_the_lecture_notation():
    vgg11 = ("conv3-64 maxpool conv3-128 maxpool conv3-256 conv3-256 maxpool conv3-512 conv3-512 maxpool "
             "conv3-512 conv3-512 maxpool FC-4096 FC-4096 FC-1000")
    result = st.summary(nn.from_spec(vgg11, (3, 224, 224), rng=0), (1, 3, 224, 224))
    assert result.params == 132_863_336                   # torchvision vgg11
    assert round(result.macs / 1e9, 2) == 7.61             # torchvision: 7.61 GFLOPS
