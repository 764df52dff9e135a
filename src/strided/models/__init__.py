"""The model zoo: ``create_model(name, ...)``, ``list_models()`` and the factories themselves."""

from .lenet import LeNet5, lenet5
from .registry import create_model, list_models, register_model

__all__ = ["LeNet5", "lenet5", "create_model", "list_models", "register_model"]
