"""The benchmark workloads of issue 18: one network, one input shape, one batch size, one kind of run.

Each workload builds the strided model and the same network in PyTorch. The PyTorch networks are
the mirrors the tests already use as oracles (``tests/torch_zoo.py``, ``tests/test_resnet.py``,
``tests/test_mobilenet.py``, ``tests/test_unet.py``), imported from there, so a benchmark and a
parity test compare the same definition; only LeNet-5 at 28x28 (first convolution padded by 2)
is written here. Kinds:

* ``train``: SGD (lr 0.01, momentum 0.9) and cross-entropy (per pixel for the U-Net) on random
  float32 data, one step per batch; images/s.
* ``infer``: forward passes in eval mode without a graph; images/s.
* ``latency``: batch-1 forward passes in eval mode without a graph; median ms. A ``prepared``
  workload times each side's model after its own preparation for inference
  (``st.optimize_for_inference`` against ``torch.jit.optimize_for_inference`` of the traced model).
* ``pipeline``: strided only: ``st.data.DataLoader`` with the augmentation ``strided train`` uses
  for grey images (``shift:2``) against a LeNet-5 training step at the same batch size.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

TESTS = str(Path(__file__).resolve().parents[1] / "tests")
LR, MOMENTUM = 0.01, 0.9
VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    kind: str                      # train | infer | latency | pipeline
    batch: int
    shape: tuple                   # one example, (C, *spatial)
    classes: int
    strided: Callable              # strided -> model
    torch: Callable | None         # torch -> model (None: strided only)
    per_pixel: bool = False        # labels (B, *spatial): segmentation
    prepared: bool = False         # inference on each side's prepared model (``prepare_strided``, ``prepare_torch``)

    @property
    def channels_last(self) -> bool:
        """PyTorch's ``channels_last`` memory format applies (2-D images) and is tried as a third side
        (not on a prepared model: PyTorch's preparation chooses its own layout)."""
        return self.torch is not None and len(self.shape) == 3 and not self.prepared

    def sides(self, channels_last: bool = True) -> tuple[str, ...]:
        if self.torch is None:
            return ("strided",)
        return ("strided", "torch", "torch_cl") if channels_last and self.channels_last else ("strided", "torch")


# ----------------------------------------------------------------------------------- PyTorch mirrors
def test_module(name: str):
    """A module of ``tests/`` holding PyTorch mirrors of the zoo (written there as the oracle)."""
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    return importlib.import_module(name)


def torch_lenet5(torch):
    """LeNet-5 as ``create_model('lenet5', input_size=28)`` builds it: first convolution padded by 2."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def torch_vgg11_cifar(torch):
    """torchvision's VGG-11 features (``tests/torch_zoo.TorchVGG``), then Flatten and Linear 512->10."""
    features = test_module("torch_zoo").TorchVGG("A").features
    return torch.nn.Sequential(features, torch.nn.Flatten(), torch.nn.Linear(512, 10))


def strided_vgg11_cifar(st):
    from strided.models.vgg import make_features
    return st.nn.Sequential(make_features(VGG11, rng=0), st.nn.Flatten(), st.nn.Linear(512, 10, rng=0))


def _zoo(name: str, **kwargs):
    return lambda st: st.models.create_model(name, seed=0, **kwargs)


def _mirror(module: str, attr: str, *args, **kwargs):
    """``tests/<module>.<attr>(*args, **kwargs)``; a ``REFERENCES`` entry when ``attr`` names one."""
    def build(torch):
        found = test_module(module)
        table = getattr(found, "REFERENCES", {})
        return table[attr]() if attr in table and not args and not kwargs else getattr(found, attr)(*args, **kwargs)
    return build


LENET = dict(shape=(1, 28, 28), classes=10, strided=_zoo("lenet5", input_size=28), torch=torch_lenet5)
RESNET18 = dict(shape=(3, 224, 224), classes=1000, strided=_zoo("resnet18"), torch=_mirror("test_resnet", "resnet18"))
VGG11_CIFAR = dict(shape=(3, 32, 32), classes=10, strided=strided_vgg11_cifar, torch=torch_vgg11_cifar)

WORKLOADS = {w.name: w for w in [
    Workload("lenet5_train_64", "LeNet-5 train, batch 64", "train", 64, **LENET),
    Workload("lenet5_train_256", "LeNet-5 train, batch 256", "train", 256, **LENET),
    Workload("lenet5_latency", "LeNet-5 inference, batch 1", "latency", 1, **LENET),
    Workload("resnet20_train", "ResNet-20 (CIFAR) train, batch 128", "train", 128, (3, 32, 32), 10,
             _zoo("resnet20"), _mirror("test_resnet", "resnet20")),
    Workload("mobilenet_v2_train", "MobileNetV2 train, 3x96x96, batch 64", "train", 64, (3, 96, 96), 10,
             _zoo("mobilenet_v2", num_classes=10), _mirror("test_mobilenet", "TorchMobileNetV2", num_classes=10)),
    Workload("unet_train", "U-Net train, 1x64x64, batch 16", "train", 16, (1, 64, 64), 2,
             _zoo("unet"), _mirror("test_unet", "TorchUNet"), per_pixel=True),
    Workload("vgg11_infer", "VGG-11 (CIFAR) inference, batch 256", "infer", 256, **VGG11_CIFAR),
    Workload("vgg11_latency", "VGG-11 (CIFAR) inference, batch 1", "latency", 1, **VGG11_CIFAR),
    Workload("resnet18_infer_32", "ResNet-18 inference, 224x224, batch 32", "infer", 32, **RESNET18),
    Workload("resnet18_latency", "ResNet-18 inference, 224x224, batch 1", "latency", 1, **RESNET18),
    Workload("resnet18_latency_prepared", "ResNet-18 inference, 224x224, batch 1, each side's inference "
             "preparation", "latency", 1, prepared=True, **RESNET18),
    Workload("mnist1d_train", "MNIST-1D CNN train, batch 100", "train", 100, (1, 40), 10,
             _zoo("mnist1d_cnn"), _mirror("torch_zoo", "TorchMNIST1D")),
    Workload("data_pipeline", "DataLoader + shift:2 augmentation, share of a LeNet-5 step (batch 64)",
             "pipeline", 64, (1, 28, 28), 10, _zoo("lenet5", input_size=28), None),
]}
TRAINING = [w.name for w in WORKLOADS.values() if w.kind == "train"]


def prepare_strided(st, model, x):
    """strided's preparation for inference: batch norms folded, weights frozen (``st.optimize_for_inference``)."""
    return st.optimize_for_inference(model, x)


def prepare_torch(torch, model, x):
    """PyTorch's: ``torch.jit.optimize_for_inference`` of the traced model (batch norms folded, weights
    frozen, oneDNN's layouts where it chooses them)."""
    with torch.no_grad():
        return torch.jit.optimize_for_inference(torch.jit.trace(model.eval(), x))


def random_batch(workload: Workload, batch: int | None = None, seed: int = 0):
    """Random float32 inputs ``(B, *shape)`` and int64 labels ``(B,)`` (``(B, *spatial)`` per pixel)."""
    batch = workload.batch if batch is None else batch
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + workload.shape, dtype=np.float32)
    label_shape = (batch,) + workload.shape[1:] if workload.per_pixel else (batch,)
    return x, rng.integers(0, workload.classes, size=label_shape, dtype=np.int64)


def flops_per_image(workload: Workload, macs: int) -> int:
    """2 FLOPs per multiply-accumulate; a training step counts 3 products (forward, input and weight gradients)."""
    return 2 * macs * (3 if workload.kind == "train" else 1)


def macs_per_image(st, workload: Workload) -> int:
    """Multiply-accumulates of one example's forward pass (``strided.summary`` of a shape-only build)."""
    with st.nn.meta():
        model = workload.strided(st)
    return st.summary(model, (1,) + workload.shape).macs
