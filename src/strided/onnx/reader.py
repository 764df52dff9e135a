"""Reading an ONNX file safely: the protobuf, external data inside the model's folder, tensors checked.

Nothing here trusts the file. A truncated or damaged protobuf is reported as such; an
initializer whose data is shorter (or longer) than its shape says is refused before anything
is allocated for it; external data is read only from files inside the model's own folder (no
absolute paths, no ``..`` or symbolic link leading out of it), and only within their size.
The ``onnx`` package parses the protobuf; the arrays are decoded here with NumPy.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import OnnxError, UnsupportedOnnxError, needs_onnx

# ONNX TensorProto.DataType -> (NumPy dtype, the typed field that holds the values when raw_data is absent)
DTYPES = {
    1: (np.float32, "float_data"), 2: (np.uint8, "int32_data"), 3: (np.int8, "int32_data"),
    4: (np.uint16, "int32_data"), 5: (np.int16, "int32_data"), 6: (np.int32, "int32_data"),
    7: (np.int64, "int64_data"), 9: (np.bool_, "int32_data"), 10: (np.float16, "int32_data"),
    11: (np.float64, "double_data"), 12: (np.uint32, "uint64_data"), 13: (np.uint64, "uint64_data"),
}
DTYPE_NAMES = {0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32",
               7: "INT64", 8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64",
               14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"}
ONNX_OF_DTYPE = {np.dtype(v[0]): k for k, v in DTYPES.items()}


def import_onnx(what: str = "strided.onnx"):
    try:
        import onnx
    except ImportError:
        raise needs_onnx(what) from None
    return onnx


def read_model(source, base_dir=None):
    """``(model, label, base_dir)`` from a path, bytes, or an ``onnx.ModelProto``.

    ``label`` names the source in messages; ``base_dir`` is where external data may be read
    (the model's folder; ``None`` for bytes unless given).
    """
    onnx = import_onnx()
    if isinstance(source, onnx.ModelProto):
        model, label = source, "<ModelProto>"
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data, label = bytes(source), f"<{len(source)} bytes>"
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            label = path
            if not os.path.isfile(path):
                raise FileNotFoundError(f"strided.onnx: no such file: {path}")
            with open(path, "rb") as f:
                data = f.read()
            if base_dir is None:
                base_dir = os.path.dirname(os.path.abspath(path))
        else:
            raise TypeError(f"strided.onnx.load: expected a path, bytes or an onnx.ModelProto, "
                            f"got {type(source).__name__}")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as error:                                      # protobuf's DecodeError and kin
            raise OnnxError(f"{label}: not a readable ONNX model (the protobuf does not parse: {error}); "
                            f"the file may be truncated or damaged") from None
    if not model.HasField("graph"):
        raise OnnxError(f"{label}: the model has no graph (an empty, truncated or non-ONNX file)")
    return model, label, base_dir


# ----------------------------------------------------------------------------------------- tensors
def _external_bytes(tensor, label: str, base_dir) -> bytes:
    """The bytes of a tensor stored outside the model file, read only from inside ``base_dir``."""
    entries = {e.key: e.value for e in tensor.external_data}
    location = entries.get("location", "")
    what = f"{label}: initializer {tensor.name!r} stores its data in the external file {location!r}"
    if base_dir is None:
        raise OnnxError(f"{what}, but the model was given as bytes; pass base_dir= (the model's folder)")
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")):
        raise OnnxError(f"{what}: only a relative path inside the model's folder is allowed")
    base = os.path.realpath(base_dir)
    target = os.path.realpath(os.path.join(base, location))
    if os.path.commonpath([base, target]) != base:
        raise OnnxError(f"{what}, which leads out of the model's folder {base}; refused")
    if not os.path.isfile(target):
        raise OnnxError(f"{what}, which does not exist")
    try:
        offset = int(entries.get("offset", 0) or 0)
        length = int(entries["length"]) if entries.get("length") else None
    except ValueError:
        raise OnnxError(f"{what} with an unreadable offset or length: {entries}") from None
    size = os.path.getsize(target)
    if offset < 0 or offset > size or (length is not None and (length < 0 or offset + length > size)):
        raise OnnxError(f"{what}: offset {offset} and length {length} reach past its {size} bytes")
    with open(target, "rb") as f:
        f.seek(offset)
        return f.read(size - offset if length is None else length)


def tensor_to_array(tensor, label: str, base_dir=None, what: str | None = None) -> np.ndarray:
    """A TensorProto as a NumPy array, its data checked against its shape first."""
    what = what or f"initializer {tensor.name!r}"
    dims = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in dims):
        raise OnnxError(f"{label}: {what} has a negative dimension {dims}")
    if tensor.data_type not in DTYPES:
        name = DTYPE_NAMES.get(tensor.data_type, str(tensor.data_type))
        raise UnsupportedOnnxError(f"{label}: {what} has data type {name}; strided reads "
                                   f"{', '.join(DTYPE_NAMES[k] for k in sorted(DTYPES))}")
    dtype, field = DTYPES[tensor.data_type]
    dtype = np.dtype(dtype)
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    external = tensor.data_location == 1                                # TensorProto.EXTERNAL
    if external or tensor.HasField("raw_data"):
        raw = _external_bytes(tensor, label, base_dir) if external else tensor.raw_data
        if len(raw) != count * dtype.itemsize:
            raise OnnxError(f"{label}: {what} of shape {dims} ({DTYPE_NAMES[tensor.data_type]}) needs "
                            f"{count * dtype.itemsize} bytes of data, the file holds {len(raw)}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)
    values = getattr(tensor, field)
    if len(values) != count:
        raise OnnxError(f"{label}: {what} of shape {dims} needs {count} values, the file holds {len(values)}")
    if dtype == np.float16:
        return np.array(values, dtype=np.uint16).view(np.float16).reshape(dims)
    return np.array(values, dtype=dtype).reshape(dims)


__all__ = ["read_model", "tensor_to_array", "import_onnx", "DTYPES", "DTYPE_NAMES", "ONNX_OF_DTYPE"]
