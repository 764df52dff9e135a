"""The measurements behind ``fast.winograd.winograd_fits``: one 3x3 convolution layer, im2col forms
against Winograd's F(4x4, 3x3), in training (forward and both gradients) or inference.

    python benchmarks/winograd_rule.py                       # the layers the rule's docstring cites
    python benchmarks/winograd_rule.py 16,32,32,32 --infer   # N,C_in,size,C_out; inference only
    python benchmarks/winograd_rule.py --chunks 1 4 1000     # Winograd at several CHUNK_BYTES (MiB)

Each layer runs in this one process, both forms alternately, batch-last float32 input and output
gradient (as they arrive inside a network); the best of ``--seconds`` of repeated steps counts.
The ratio is im2col's time over Winograd's: above 1, the form gains. The compiled path only.

Shape: input ``(N, C_in, size, size)``, padding 1, output ``(N, C_out, size, size)``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

LAYERS = ["128,16,32,16", "128,32,16,32", "128,64,8,64",            # ResNet-20, batch 128
          "16,16,64,16", "16,16,32,32", "16,32,32,32", "16,64,16,64", "16,128,8,128", "16,256,4,256",  # U-Net
          "32,16,32,16", "64,16,32,16", "32,64,32,64", "32,128,16,128", "8,64,16,64", "4,64,16,64"]


def best_ms(step, seconds: float) -> float:
    step()
    step()
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def batch_last(a: np.ndarray) -> np.ndarray:
    """``a`` ``(N, C, H, W)`` laid out as ``(C, H, W, N)`` in memory, as strided's layers pass it."""
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layers", nargs="*", default=LAYERS, help="N,C_in,size,C_out")
    parser.add_argument("--infer", action="store_true", help="forward without gradients")
    parser.add_argument("--chunks", nargs="+", type=float, default=None, help="CHUNK_BYTES to try, in MiB")
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()

    import strided as st
    from strided import fast
    if not fast.available():
        raise SystemExit('the Winograd form is compiled: pip install "strided[fast]"')
    from strided.fast import winograd
    st.memory.keep_freed_memory()
    fits, default_chunk = winograd.winograd_fits, winograd.CHUNK_BYTES
    chunks = [int(c * 2**20) for c in args.chunks] if args.chunks else [default_chunk]
    rng = np.random.default_rng(0)
    print(f"{'layer':<28} {'im2col ms':>10} " + " ".join(f"{'wino ' + format(c / 2**20, 'g') + 'MB':>11}" for c in chunks)
          + "  ratio  rule")
    for spec in args.layers:
        n, c_in, size, c_out = (int(v) for v in spec.split(","))
        conv = st.nn.Conv2d(c_in, c_out, 3, padding=1, bias=False, rng=0)
        x = st.Tensor(batch_last(rng.standard_normal((n, c_in, size, size), dtype=np.float32)),
                      requires_grad=not args.infer)
        g = batch_last(rng.standard_normal((n, c_out, size, size), dtype=np.float32))

        def step():
            if args.infer:
                with st.no_grad():
                    conv(x)
                return
            x.grad = conv.weight.grad = None
            conv(x).backward(g)

        winograd.winograd_fits = lambda *a, **k: False
        im2col = best_ms(step, args.seconds)
        winograd.winograd_fits = lambda *a, **k: True
        wino = []
        for chunk in chunks:
            winograd.CHUNK_BYTES = chunk
            wino.append(best_ms(step, args.seconds))
        winograd.winograd_fits, winograd.CHUNK_BYTES = fits, default_chunk
        window = st.nn.conv.conv_window(x.shape, conv.weight.shape, 1, 1, 1, 1, "conv2d")
        chosen = fits(x.shape, conv.weight.shape, window, 1, training=not args.infer)
        title = f"N{n} C{c_in} {size}x{size} -> C{c_out}"
        print(f"{title:<28} {im2col:>10.2f} " + " ".join(f"{w:>11.2f}" for w in wino)
              + f"  {im2col / min(wino):5.2f}  {'winograd' if chosen else 'im2col'}")


if __name__ == "__main__":
    main()
