"""The model zoo: ``create_model(name, ...)``, ``list_models()`` and the factories themselves."""

from .alexnet import AlexNet, AlexNet2012, alexnet, alexnet_2012
from .blocks import ConvNormActivation, SqueezeExcitation, make_divisible
from .efficientnet import EfficientNet, MBConv, efficientnet_b0
from .googlenet import GoogLeNet, googlenet
from .lenet import LeNet5, LeNet5Classic, lenet5, lenet5_classic
from .mobilenet import InvertedResidual, InvertedResidualV3, MobileNetV2, MobileNetV3, mobilenet_v2, mobilenet_v3_small
from .registry import create_model, list_models, register_model
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from .resnet_cifar import CifarResNet, ZeroPadShortcut, resnet20, resnet32, resnet44, resnet56
from .small import DigitsCNN, MNIST1DCNN, digits_cnn, mnist1d_cnn
from .unet import DoubleConv, UNet, unet
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from .xception import Xception, XceptionBlock, xception

__all__ = ["LeNet5", "lenet5", "LeNet5Classic", "lenet5_classic", "create_model", "list_models", "register_model",
           "BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "CifarResNet", "ZeroPadShortcut", "resnet20", "resnet32", "resnet44", "resnet56",
           "AlexNet", "AlexNet2012", "alexnet", "alexnet_2012",
           "VGG", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
           "Xception", "XceptionBlock", "xception", "GoogLeNet", "googlenet",
           "MNIST1DCNN", "DigitsCNN", "mnist1d_cnn", "digits_cnn",
           "EfficientNet", "MBConv", "efficientnet_b0", "ConvNormActivation", "make_divisible",
           "DoubleConv", "UNet", "unet",
           "InvertedResidual", "InvertedResidualV3", "MobileNetV2", "MobileNetV3", "SqueezeExcitation",
           "mobilenet_v2", "mobilenet_v3_small"]
