"""ONNX interchange: ``load`` (an ONNX model as a strided module, run with strided's own ops) and
``info`` (its layer table without running), and ``export`` writes a strided model as an ONNX file. Parsing the protobuf needs the ``onnx`` package
(``pip install "strided[onnx]"``), imported only when a model is read.

>>> import strided as st
>>> # model = st.onnx.load("model.onnx"); print(st.onnx.info("model.onnx"))
"""

from .errors import OnnxError, UnsupportedOnnxError
from .export import ExportError, export, export_rule
from .info import OnnxSummary, info
from .importer import load
from .model import OnnxModel
from .plan import supported_operators

__all__ = ["load", "info", "OnnxModel", "OnnxSummary", "OnnxError", "UnsupportedOnnxError", "supported_operators",
           "export", "export_rule", "ExportError"]
