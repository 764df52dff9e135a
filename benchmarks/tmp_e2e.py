# temporary: end-to-end effect of candidate conv changes, by monkeypatching (library untouched)
import sys, time, statistics, numpy as np
sys.path.insert(0, "src")
import strided as st
import strided.nn.conv as C
from strided.windows import im2col, pad, unpad
from strided.tensor import Tensor, as_tensor

def col2im_sep(cols, padded_shape, kernel, stride, dilation, out_sizes):
    """Fold one spatial axis at a time: d passes of K_a strided adds over shrinking arrays."""
    d = len(kernel); n, c = padded_shape[:2]
    arr = cols.reshape((n, c) + tuple(kernel) + tuple(out_sizes))      # (N, C, *K, *O)
    for a in reversed(range(d)):
        kax = 2 + a                       # remaining kernel axes: K_1..K_{a+1}
        oax = 2 + (a + 1) + a             # O_{a+1}, in arr
        shape = list(arr.shape); shape[oax] = padded_shape[2 + a]; del shape[kax]
        out = np.zeros(shape, arr.dtype)
        k_, s_, dl, o_ = kernel[a], stride[a], dilation[a], out_sizes[a]
        for k in range(k_):
            idx = [slice(None)] * len(shape)
            idx[oax - 1] = slice(k * dl, k * dl + s_ * (o_ - 1) + 1, s_)
            out[tuple(idx)] += np.take(arr, k, axis=kax)
        arr = out
    return arr

def make_conv(gw_mode, use_sep):
    def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, owner=None):
        x, weight = as_tensor(x), as_tensor(weight)
        bias = None if bias is None else as_tensor(bias)
        d = weight.ndim - 2
        owner = owner or f"conv{d}d"
        stride, pads, dilation, out_sizes = C.conv_geometry(x.shape, weight.shape, stride, padding, dilation, groups, owner)
        n = x.shape[0]; c_out = weight.shape[0]; kernel = weight.shape[2:]
        w = weight.data.reshape(groups, c_out // groups, -1)
        xp = pad(x.data, pads)
        cols = im2col(xp, kernel, stride, dilation, out_sizes, groups)
        out = np.matmul(w, cols).reshape((n, c_out) + out_sizes)
        if bias is not None:
            out += bias.data.reshape((c_out,) + (1,) * d)
        def backward(g):
            gg = g.reshape(n, groups, c_out // groups, -1)
            gw = gb = gx = None
            if weight.requires_grad:
                if gw_mode == "matmul" or groups > 1:
                    gw = np.matmul(gg, cols.swapaxes(-1, -2)).sum(axis=0)
                else:
                    gw = np.tensordot(gg[:, 0], cols[:, 0], axes=([0, 2], [0, 2]))
                gw = gw.reshape(weight.shape)
            if bias is not None and bias.requires_grad:
                gb = g.sum(axis=(0,) + tuple(range(2, d + 2)))
            if x.requires_grad:
                gcols = np.matmul(w.swapaxes(-1, -2), gg)
                f = col2im_sep if use_sep else C.col2im
                gx = np.ascontiguousarray(unpad(f(gcols, xp.shape, kernel, stride, dilation, out_sizes), pads))
            return gx, gw, gb
        parents = (x, weight) if bias is None else (x, weight, bias)
        return Tensor.from_op(out, parents, backward if bias is not None else (lambda g: backward(g)[:2]), f"conv{d}d")
    return conv

# correctness of col2im_sep against the library's col2im, a few geometries
rng = np.random.default_rng(0)
for (K, S, D, Sp) in [((5, 5), (1, 1), (1, 1), (14, 14)), ((3, 2), (2, 1), (1, 2), (9, 8)), ((3,), (2,), (2,), (11,)), ((2, 3, 2), (1, 2, 1), (1, 1, 2), (5, 7, 6))]:
    O = tuple((s - dd * (k - 1) - 1) // ss + 1 for s, k, ss, dd in zip(Sp, K, S, D))
    cols = rng.standard_normal((2, 3 * int(np.prod(K)), int(np.prod(O)))).astype(np.float32)
    a = C.col2im(cols, (2, 3) + Sp, K, S, D, O); b = col2im_sep(cols, (2, 3) + Sp, K, S, D, O)
    assert np.allclose(a, b, atol=1e-5), (K, S, D)

def bench(batch, steps=20, rounds=7):
    m = st.models.create_model("lenet5", input_size=28, seed=0)
    opt = st.optim.SGD(m.parameters(), lr=0.01, momentum=0.9); lf = st.nn.CrossEntropyLoss()
    x = st.Tensor(rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)); y = rng.integers(0, 10, batch)
    def step():
        opt.zero_grad(); l = lf(m(x), y); l.backward(); opt.step()
    for _ in range(5): step()
    ts = []
    for _ in range(rounds):
        s = time.perf_counter()
        for _ in range(steps): step()
        ts.append(time.perf_counter() - s)
    return 1e3 * statistics.median(ts) / steps

orig = C.conv
variants = [("library as is", orig), ("gw batched matmul", make_conv("matmul", False)),
            ("col2im per-axis", make_conv("tensordot", True)), ("both", make_conv("matmul", True))]
for rep in range(2):
    for batch in (64, 256):
        for name, fn in variants:
            C.conv = fn
            ms = bench(batch)
            print(f"rep{rep} batch {batch:3d} {name:<20} {ms:6.2f} ms/step  {batch / ms * 1e3:7.0f} img/s", flush=True)
C.conv = orig
