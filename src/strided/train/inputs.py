"""Inputs for a trained run's model, prepared as its training data was: image files and ``.npy`` arrays.

- An image file (PNG, JPEG, anything Pillow reads) becomes one example: converted to the model's
  channels (Pillow's ``L`` for 1, ``RGB`` for 3), resized to the model's input with the run's
  ``resize`` filter (``nearest`` for the digits, whose 8x8 images were upsampled by pixel
  repetition; ``bilinear`` otherwise, as ``image_folder`` does), pixels scaled to ``[0, 1]``.
- A ``.npy`` file holds one example (``input_shape``, or without the channel axis for one
  channel) or a batch (``(N, *input_shape)``, or ``(N, *spatial)`` for one channel), on the data
  set's own scale (images in ``[0, 1]``; ``uint8`` arrays are divided by 255).

Then each is normalised with the run's recorded per-channel mean and standard deviation, unless
``normalized=True`` says the arrays are normalised already (as ``st.data`` sets are after the
run's normalisation).
"""

from __future__ import annotations

import os

import numpy as np

from ..data.sources import normalize_


def _dims(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


def read_image(path: str, input_shape, resize: str | None) -> np.ndarray:
    """One image file as ``(1, C, H, W)`` float32 in ``[0, 1]`` for a model taking ``input_shape`` ``(C, H, W)``."""
    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise ValueError(f"{path}: this model takes examples of {_dims(input_shape)}, not images; give .npy arrays")
    from ..data.image_folder import _require_pillow
    Image = _require_pillow()
    channels, height, width = (int(s) for s in input_shape)
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read {path} as an image ({type(error).__name__}: {error})") from None
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.NEAREST if resize == "nearest"
                             else Image.Resampling.BILINEAR)
    pixels = np.asarray(image, np.uint8)                                    # (H, W) or (H, W, 3)
    x = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)         # (C, H, W)
    return (x / np.float32(255)).astype(np.float32)[None]                    # (1, C, H, W)


def read_array(path: str, input_shape) -> np.ndarray:
    """A ``.npy`` file as a batch ``(N, *input_shape)`` float32 (see the module's docstring)."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} as a .npy array ({error})") from None
    shape = tuple(int(s) for s in input_shape)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds {x.dtype} values, expected numbers")
    if x.shape == shape:
        x = x[None]
    elif shape[0] == 1 and x.shape == shape[1:]:
        x = x[None, None]
    elif x.shape[1:] == shape:
        pass
    elif shape[0] == 1 and x.shape[1:] == shape[1:]:
        x = x[:, None]
    else:
        single = _dims(shape) + (f" (or {_dims(shape[1:])})" if shape[0] == 1 else "")
        batch = "Nx" + _dims(shape) + (f" (or Nx{_dims(shape[1:])})" if shape[0] == 1 else "")
        raise ValueError(f"{path} holds an array of {_dims(x.shape) or 'a scalar'}; this model takes one example "
                         f"{single} or a batch {batch}")
    return np.divide(x, 255, dtype=np.float32) if x.dtype == np.uint8 else x.astype(np.float32)


def read_inputs(paths, config: dict, normalized: bool = False) -> list[tuple[str, np.ndarray]]:
    """``[(name, x (N, *input_shape))]`` for each file: an image file gives one example named by its path; a
    ``.npy`` batch of several gives ``path[i]`` names through ``example_names``."""
    shape = config["input_shape"]
    out = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no file {path}")
        if path.lower().endswith(".npy"):
            x = read_array(path, shape)
        else:
            x = read_image(path, shape, config.get("resize"))
        if not normalized:
            normalize_(x, config["normalize"]["mean"], config["normalize"]["std"])
        out.append((path, x))
    return out


def example_names(name: str, x: np.ndarray) -> list[str]:
    """``[name]`` for one example, ``[name[0], name[1], ...]`` for a batch of several."""
    return [name] if len(x) == 1 else [f"{name}[{i}]" for i in range(len(x))]


__all__ = ["read_image", "read_array", "read_inputs", "example_names"]
