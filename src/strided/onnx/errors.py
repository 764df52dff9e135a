"""The errors of ``strided.onnx``: each names the file, and the node or initializer concerned."""

from __future__ import annotations


class OnnxError(ValueError):
    """An ONNX model strided cannot read: damaged or hostile (truncated, cyclic, inconsistent).

    Example:
        >>> issubclass(OnnxError, ValueError), issubclass(UnsupportedOnnxError, OnnxError)
        (True, True)
    """


class UnsupportedOnnxError(OnnxError):
    """A model that uses an operator, attribute or opset outside what ``strided.onnx.load`` supports.

    Example:
        >>> try:
        ...     raise UnsupportedOnnxError("model.onnx: node 'n0': operator 'Loop' is not supported")
        ... except OnnxError as err:                   # also caught as OnnxError and ValueError
        ...     print(type(err).__name__)
        UnsupportedOnnxError
    """


def needs_onnx(what: str) -> ImportError:
    return ImportError(f"{what} needs the onnx package to parse the model's protobuf: "
                       f"pip install \"strided[onnx]\" (or pip install onnx)")


__all__ = ["OnnxError", "UnsupportedOnnxError", "needs_onnx"]
