"""Every registered model: builds, runs, agrees with ``st.summary``, has its published size.

Sizes are torchvision's published figures where torchvision has the model, He et al.'s for the
CIFAR ResNets, Greydanus and Kobak's 5,210 for the MNIST-1D CNN, and otherwise a count worked
out by hand below from the papers' layer tables (AlexNet 2012, Xception, GoogLeNet, LeNet-5),
independently of ``summary`` and of the models' code.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import strided as st
from oracle import needs_torch, torch
from strided import nn
from strided.models import create_model, list_models
from strided.models.vgg import VGG

if torch is not None:
    from torch_zoo import torch_reference

CIFAR = (1, 3, 32, 32)
IMAGENET = (1, 3, 224, 224)
SMALL = (1, 3, 32, 32)          # five halvings leave 1x1: the smallest input of VGG, GoogLeNet, ResNet

# name: (parameters, GMACs at the full-size input or None, full-size input, small input for a forward pass)
PUBLISHED = {
    "lenet5": (61_706, None, (1, 1, 32, 32), (2, 1, 32, 32)),
    "lenet5_classic": (61_706, None, (1, 1, 32, 32), (2, 1, 32, 32)),
    "mnist1d_cnn": (5_210, None, (1, 1, 40), (2, 1, 40)),
    "digits_cnn": (9_930, None, (1, 1, 8, 8), (2, 1, 8, 8)),
    "alexnet": (61_100_840, 0.71, IMAGENET, (1, 3, 63, 63)),       # 63x63: the smallest its pools allow
    "alexnet_2012": (60_965_224, 0.72, (1, 3, 227, 227), (1, 3, 227, 227)),
    "vgg11": (132_863_336, 7.61, IMAGENET, SMALL),
    "vgg11_bn": (132_868_840, 7.61, IMAGENET, SMALL),
    "vgg13": (133_047_848, 11.31, IMAGENET, SMALL),
    "vgg13_bn": (133_053_736, 11.31, IMAGENET, SMALL),
    "vgg16": (138_357_544, 15.47, IMAGENET, SMALL),
    "vgg16_bn": (138_365_992, 15.47, IMAGENET, SMALL),
    "vgg19": (143_667_240, 19.63, IMAGENET, SMALL),
    "vgg19_bn": (143_678_248, 19.63, IMAGENET, SMALL),
    "googlenet": (6_998_552, 1.58, IMAGENET, SMALL),
    "xception": (22_855_952, 8.36, (1, 3, 299, 299), (1, 3, 71, 71)),   # 71x71: Keras' minimum
    "resnet18": (11_689_512, 1.81, IMAGENET, SMALL),
    "resnet34": (21_797_672, 3.66, IMAGENET, SMALL),
    "resnet50": (25_557_032, 4.09, IMAGENET, SMALL),
    "resnet101": (44_549_160, 7.80, IMAGENET, SMALL),
    "resnet152": (60_192_808, 11.51, IMAGENET, SMALL),
    "resnet20": (269_722, None, CIFAR, (2, 3, 32, 32)),
    "resnet32": (464_154, None, CIFAR, (2, 3, 32, 32)),
    "resnet44": (658_586, None, CIFAR, (2, 3, 32, 32)),
    "resnet56": (853_018, None, CIFAR, (2, 3, 32, 32)),
    "mobilenet_v2": (3_504_872, 0.30, IMAGENET, SMALL),
    "mobilenet_v3_small": (2_542_856, 0.06, IMAGENET, SMALL),
    "efficientnet_b0": (5_288_548, 0.39, IMAGENET, SMALL),
    "unet": (1_942_306, None, (1, 1, 256, 256), (2, 1, 32, 32)),       # by hand in test_unet.py
}
TEN_CLASSES = {"lenet5", "lenet5_classic", "mnist1d_cnn", "digits_cnn", "resnet20", "resnet32", "resnet44",
               "resnet56"}
# dense prediction: per-pixel logits of this many classes, (N, classes, H, W) for an (N, C, H, W) input
SEGMENTATION = {"unet": 2}
# the models ``torch_zoo.torch_reference`` writes out in PyTorch: their state_dict layout is checked against it
REFERENCE_NAMES = ("lenet5", "lenet5_classic", "mnist1d_cnn", "digits_cnn", "alexnet", "vgg11", "vgg11_bn", "vgg13",
                   "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
# over half a second each (VGG's 130M+ parameters, AlexNet 2012's 227x227 forward pass, the deepest ResNets)
SLOW_MODELS = {"alexnet_2012", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
               "resnet101", "resnet152"}


def model_case(name):
    marks = ([needs_torch] if name in REFERENCE_NAMES else []) + ([pytest.mark.slow] if name in SLOW_MODELS else [])
    return pytest.param(name, marks=marks)


def test_every_registered_model_has_a_row():
    assert sorted(PUBLISHED) == list_models()


@pytest.mark.parametrize("name", [model_case(name) for name in list_models()])
def test_model_builds_runs_and_has_its_published_size(name):
    params, gmacs, full, small = PUBLISHED[name]
    classes = SEGMENTATION.get(name, 10 if name in TEN_CLASSES else 1000)
    spatial = (lambda shape: tuple(shape[2:])) if name in SEGMENTATION else (lambda shape: ())
    model = create_model(name, seed=0)
    assert model.num_parameters() == params
    # the static description at full size: parameters, MACs, output
    s = st.summary(model, full)
    assert (s.params, s.output_shape) == (params, (1, classes) + spatial(full))
    if gmacs is not None:
        assert round(s.macs / 1e9, 2) == gmacs
    # a real forward pass at a small size gives the shape summary (and output_shape) declare
    x = np.random.default_rng(0).standard_normal(small).astype(np.float32)
    with st.no_grad():
        out = model.eval()(x)
    expected = (small[0], classes) + spatial(small)
    assert out.shape == st.summary(model, small).output_shape == model.output_shape(small) == expected
    assert out.dtype == np.float32 and np.isfinite(out.data).all()
    # torchvision's layout: the state_dict of the PyTorch definition, key for key and shape for shape
    if name in REFERENCE_NAMES:
        with torch.device("meta"):
            reference = torch_reference(name, **({"output_size": classes} if name == "mnist1d_cnn" else {}))
        ours = model.state_dict()
        assert list(ours) == list(reference.state_dict())
        assert [v.shape for v in ours.values()] == [tuple(v.shape) for v in reference.state_dict().values()]


def test_factories_take_the_same_arguments():
    for name in list_models():
        parameters = inspect.signature(st.models.registry.MODELS[name]).parameters
        assert {"num_classes", "in_channels", "seed"} <= set(parameters), name


@pytest.mark.parametrize("name, shape", [("lenet5_classic", (3, 2, 28, 28)), ("digits_cnn", (3, 3, 8, 8)),
                                         ("mnist1d_cnn", (3, 2, 40)), ("googlenet", (1, 1, 40, 40))])
def test_other_classes_channels_and_seeds(name, shape):
    kwargs = dict(num_classes=7, in_channels=shape[1], seed=5)
    if name == "lenet5_classic":
        kwargs["input_size"] = 28
    a, b = create_model(name, **kwargs), create_model(name, **kwargs)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with st.no_grad():
        out = a.eval()(x)
    assert out.shape == (shape[0], 7)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_unknown_model_names_suggest_close_ones():
    with pytest.raises(ValueError, match=r"unknown model 'alexnet2012'; did you mean .*'alexnet_2012'"):
        create_model("alexnet2012")
    with pytest.raises(ValueError, match=r"did you mean 'xception'"):
        create_model("xcepton")
    with pytest.raises(ValueError, match=r"did you mean .*'vgg16_bn'"):
        create_model("vgg16bn")
    with pytest.raises(ValueError, match=r"unknown model 'transformer' \(list_models\(\) names all \d+\)"):
        create_model("transformer")


# --------------------------------------------------------------------------------------------- by hand


def conv(c_in, c_out, k, groups=1, bias=True):
    return c_out * (c_in // groups) * k * k + (c_out if bias else 0)


def dense(n_in, n_out):
    return n_in * n_out + n_out


@pytest.mark.slow
def test_alexnet_2012_by_hand():
    """The paper's network: counts and MACs by hand, its sizes, LRN, groups and initialisation."""
    layers = [  # (params, MACs at 227x227): conv1..conv5 (groups where the paper split over two GPUs), fc6..fc8
        (conv(3, 96, 11), 55 * 55 * 96 * 3 * 11 * 11),
        (conv(96, 256, 5, groups=2), 27 * 27 * 256 * 48 * 5 * 5),
        (conv(256, 384, 3), 13 * 13 * 384 * 256 * 3 * 3),
        (conv(384, 384, 3, groups=2), 13 * 13 * 384 * 192 * 3 * 3),
        (conv(384, 256, 3, groups=2), 13 * 13 * 256 * 192 * 3 * 3),
        (dense(256 * 6 * 6, 4096), 9216 * 4096), (dense(4096, 4096), 4096 * 4096), (dense(4096, 1000), 4096 * 1000),
    ]
    assert sum(p for p, _ in layers) == 60_965_224
    model = create_model("alexnet_2012", seed=0)
    s = st.summary(model, (1, 3, 227, 227))
    assert s.params == 60_965_224 and s.macs == sum(m for _, m in layers) == 724_406_816
    weighted = [row for row in s.rows if row.type in ("Conv2d", "Linear")]
    assert [row.params for row in weighted] == [p for p, _ in layers]
    assert [row.output_shape[2] for row in weighted[:5]] == [55, 27, 13, 13, 13]
    pools = [row for row in s.rows if row.type == "MaxPool2d"]
    assert [row.output_shape for row in pools] == [(1, 96, 27, 27), (1, 256, 13, 13), (1, 256, 6, 6)]
    assert [row.name for row in s.rows if row.type == "LocalResponseNorm"] == ["features.2", "features.6"]
    lrn = model.features[2]
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k, lrn.paper_alpha) == (5, 1e-4, 0.75, 2.0, True)
    assert [m.groups for m in model.modules() if isinstance(m, nn.Conv2d)] == [1, 2, 1, 2, 2]
    # initialisation: weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere
    state = model.state_dict()
    assert abs(state["classifier.0.weight"].std() - 0.01) < 1e-4
    ones = {"features.4.bias", "features.10.bias", "features.12.bias", "classifier.0.bias", "classifier.3.bias"}
    assert [type(m).__name__ for m in model.classifier] == ["Linear", "ReLU", "Dropout"] * 2 + ["Linear"]
    for key in (k for k in state if k.endswith("bias")):
        assert (state[key] == (1.0 if key in ones else 0.0)).all(), key
    with pytest.raises(st.ShapeError, match=r"Linear\(in_features=9216.*expected input \(\*, 9216\), got \(1, 6400\)"):
        model.output_shape((1, 3, 224, 224))       # 224x224 leaves 5x5x256: only 227 gives 6x6x256 = 9216


def xception_by_hand(classes=1000):
    """Chollet (2017), figure 5: every separable conv 3x3 (depthwise 9C + pointwise C*C', no bias) has BN."""
    def sep(c_in, c_out):
        return 9 * c_in + c_in * c_out + 2 * c_out          # + its batch norm

    def shortcut(c_in, c_out):
        return c_in * c_out + 2 * c_out                     # 1x1 stride-2 conv + batch norm

    entry = conv(3, 32, 3, bias=False) + 2 * 32 + conv(32, 64, 3, bias=False) + 2 * 64
    entry += shortcut(64, 128) + sep(64, 128) + sep(128, 128)
    entry += shortcut(128, 256) + sep(128, 256) + sep(256, 256)
    entry += shortcut(256, 728) + sep(256, 728) + sep(728, 728)
    middle = 8 * 3 * sep(728, 728)
    exit_ = shortcut(728, 1024) + sep(728, 728) + sep(728, 1024) + sep(1024, 1536) + sep(1536, 2048)
    return entry + middle + exit_ + dense(2048, classes)


@pytest.mark.slow
def test_xception_by_hand():
    assert xception_by_hand() == 22_855_952
    model = create_model("xception", seed=0)
    assert model.num_parameters() == 22_855_952
    # with batch norm's running mean and variance, Keras' "22,910,480 total params"
    state = model.state_dict()
    assert sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked")) == 22_910_480
    s = st.summary(model, (1, 3, 299, 299))
    last = {row.name.split(".")[0]: row.output_shape for row in s.rows}
    assert [last[f"block{i}"] for i in (1, 2, 3, 11, 12)] == [
        (1, 128, 74, 74), (1, 256, 37, 37), (1, 728, 19, 19), (1, 728, 19, 19), (1, 1024, 10, 10)]
    assert last["conv4"] == (1, 2048, 10, 10)
    names = [row.name for row in s.rows]
    assert names.count("block1.skip") == 1 and "block4.skip" not in names       # identity in the middle flow
    assert len([row for row in s.rows if row.type == "DepthwiseConv2d"]) == 2 * 3 + 8 * 3 + 2 + 2
    assert create_model("xception", num_classes=10, seed=0).num_parameters() == xception_by_hand(10)


# Szegedy et al. (2015), table 1: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; output channels
GOOGLENET_TABLE = [
    (192, 64, 96, 128, 16, 32, 32, 256), (256, 128, 128, 192, 32, 96, 64, 480),
    (480, 192, 96, 208, 16, 48, 64, 512), (512, 160, 112, 224, 24, 64, 64, 512),
    (512, 128, 128, 256, 24, 64, 64, 512), (512, 112, 144, 288, 32, 64, 64, 528),
    (528, 256, 160, 320, 32, 128, 128, 832), (832, 256, 160, 320, 32, 128, 128, 832),
    (832, 384, 192, 384, 48, 128, 128, 1024),
]


def test_googlenet_by_hand():
    def inception(c, c1, r3, c3, r5, c5, pp):
        return conv(c, c1, 1) + conv(c, r3, 1) + conv(r3, c3, 3) + conv(c, r5, 1) + conv(r5, c5, 5) + conv(c, pp, 1)

    stem = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
    blocks = sum(inception(*row[:7]) for row in GOOGLENET_TABLE)
    assert all(row[1] + row[3] + row[5] + row[6] == row[7] for row in GOOGLENET_TABLE)
    assert (stem, blocks, dense(1024, 1000)) == (124_416, 5_849_136, 1_025_000)
    assert stem + blocks + dense(1024, 1000) == 6_998_552
    model = create_model("googlenet", seed=0)
    assert model.num_parameters() == 6_998_552
    # output channels and sizes of every block at 224x224 (28, 14, 7), walking the children statically
    shape, outs = IMAGENET, {}
    for name, child in model.named_children():
        shape = child.output_shape(shape)
        outs[name] = shape
    assert [outs[n][1:] for n in ("conv1", "maxpool1", "conv3", "maxpool2")] == [
        (64, 112, 112), (64, 56, 56), (192, 56, 56), (192, 28, 28)]
    blocks = [n for n in outs if n.startswith("inception")]
    assert [outs[n][1] for n in blocks] == [row[7] for row in GOOGLENET_TABLE]
    assert [outs[n][2] for n in blocks] == [28, 28, 14, 14, 14, 14, 14, 7, 7]
    # inception (3a): the paper's 159K weights (163,328 / 1024, rounded down) and 128M multiply-adds
    s = st.summary(model, IMAGENET)
    rows = [row for row in s.rows if row.name.startswith("inception3a.")]
    assert sum(r.weights for r in rows) // 1024 == 159 and round(sum(r.macs for r in rows) / 1e6) == 128


def test_small_models_by_hand():
    # MNIST-1D: conv 1->25 k5, 25->25 k3 twice, dense 125->10 (40 -> 19 -> 10 -> 5)
    mnist1d = 25 * 1 * 5 + 25 + 2 * (25 * 25 * 3 + 25) + dense(25 * 5, 10)
    assert mnist1d == 5_210
    s = st.summary(create_model("mnist1d_cnn"), (1, 1, 40))
    assert [row.output_shape for row in s.rows if row.type == "Conv1d"] == [(1, 25, 19), (1, 25, 10), (1, 25, 5)]
    assert s.params == mnist1d
    digits = conv(1, 16, 3) + conv(16, 32, 3) + dense(32 * 4 * 4, 10)
    assert digits == 9_930 == create_model("digits_cnn").num_parameters()
    # LeNet-5 classic: C1 156, C3 (full connectivity) 2,416, C5 48,120, F6 10,164, output 850
    lenet = [conv(1, 6, 5), conv(6, 16, 5), conv(16, 120, 5), dense(120, 84), dense(84, 10)]
    assert lenet == [156, 2_416, 48_120, 10_164, 850] and sum(lenet) == 61_706
    s = st.summary(create_model("lenet5_classic"), (1, 1, 32, 32))
    assert [row.type for row in s.rows].count("AvgPool2d") == 2 and [row.type for row in s.rows].count("Tanh") == 4
    assert [row.output_shape for row in s.rows if row.type == "Conv2d"] == [(1, 6, 28, 28), (1, 16, 10, 10),
                                                                           (1, 120, 1, 1)]


# --------------------------------------------------------------------------------------------- VGG


def test_vgg_table_initialisation_and_errors():
    model = VGG([16, "M", 32, "M"], batch_norm=True, num_classes=5, in_channels=1, rng=0)
    assert [type(m).__name__ for m in model.features] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                                                          "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert model.output_shape((2, 1, 12, 12)) == (2, 5)
    state = model.state_dict()
    w = state["features.4.weight"]
    assert abs(w.std() / np.sqrt(2.0 / (32 * 9)) - 1) < 0.05                  # He normal, fan-out
    assert (state["features.4.bias"] == 0).all() and (state["features.1.weight"] == 1).all()
    assert abs(state["classifier.0.weight"].std() - 0.01) < 2e-4 and (state["classifier.0.bias"] == 0).all()
    with pytest.raises(ValueError, match=r"VGG: config must be one of \['A', 'B', 'D', 'E'\]"):
        VGG("C")
    with pytest.raises(st.ShapeError, match=r"MaxPool2d"):
        model.output_shape((1, 1, 3, 3))                                       # too small for two halvings

