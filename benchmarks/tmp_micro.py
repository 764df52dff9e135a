# temporary micro-benchmark (not part of the deliverable)
import time, statistics, numpy as np, sys
sys.path.insert(0, "src")
from strided.windows import im2col, col2im, pad, window_view
from strided.nn import pool as P
from strided.tensor import Tensor

def t(f, n=15, w=3):
    for _ in range(w): f()
    ts=[]
    for _ in range(n):
        s=time.perf_counter(); f(); ts.append(time.perf_counter()-s)
    return 1e3*statistics.median(ts)

rng = np.random.default_rng(0)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 256
res = {}
for name, cin, cout, H, padn in (("conv1", 1, 6, 28, 2), ("conv2", 6, 16, 14, 0)):
    x = rng.standard_normal((N, cin, H, H), dtype=np.float32)
    w = rng.standard_normal((cout, cin*25), dtype=np.float32)
    pads = ((padn, padn),)*2
    O = H + 2*padn - 4
    xp = pad(x, pads)
    cols = im2col(xp, (5,5), (1,1), (1,1), (O,O), 1)  # (N,1,CK,P)
    g = rng.standard_normal((N, cout, O*O), dtype=np.float32)
    print(f"== {name}: x {x.shape} cols {cols.shape} ({cols.nbytes/1e6:.1f} MB)")
    print(f"  pad+im2col               {t(lambda: im2col(pad(x, pads), (5,5), (1,1), (1,1), (O,O), 1)):7.2f} ms")
    print(f"  fwd matmul w@cols         {t(lambda: np.matmul(w, cols[:,0])):7.2f} ms")
    # weight-gradient variants
    A = lambda: np.tensordot(g, cols[:,0], axes=([0,2],[0,2]))
    B = lambda: np.matmul(g, cols[:,0].swapaxes(-1,-2)).sum(0)
    C = lambda: np.einsum('nop,nkp->ok', g, cols[:,0], optimize=True)
    ref = A()
    for lbl, f in (("gw tensordot (current)", A), ("gw matmul(g, cols^T).sum(0)", B), ("gw einsum optimize", C)):
        assert np.allclose(f(), ref, rtol=1e-3, atol=1e-2), lbl
        print(f"  {lbl:<26}{t(f):7.2f} ms")
    # layout D: cols as (CK, N*P) built directly from the window view
    def im2col_T():
        v = window_view(pad(x, pads), (5,5), (1,1), (1,1), (O,O))   # (N,C,5,5,O,O)
        return np.ascontiguousarray(v.transpose(1,2,3,0,4,5)).reshape(cin*25, N*O*O)
    colsT = im2col_T()
    gT = np.ascontiguousarray(g.transpose(1,0,2)).reshape(cout, -1)
    print(f"  [D] im2col to (CK, N*P)   {t(im2col_T):7.2f} ms")
    print(f"  [D] fwd w@colsT + to NCHW {t(lambda: np.ascontiguousarray((w@colsT).reshape(cout,N,-1).transpose(1,0,2))):7.2f} ms")
    print(f"  [D] g to (Cout, N*P)      {t(lambda: np.ascontiguousarray(g.transpose(1,0,2)).reshape(cout,-1)):7.2f} ms")
    print(f"  [D] gw = gT @ colsT.T     {t(lambda: gT @ colsT.T):7.2f} ms")
    assert np.allclose(gT @ colsT.T, ref, rtol=1e-3, atol=1e-2)
    if name == "conv2":
        gcols = np.matmul(w.T, g)          # (N, CK, P)
        print(f"  gx: w^T@g                 {t(lambda: np.matmul(w.T, g)):7.2f} ms")
        print(f"  gx: col2im (current)      {t(lambda: col2im(gcols, xp.shape, (5,5), (1,1), (1,1), (O,O))):7.2f} ms")
        gcolsT = w.T @ gT                  # (CK, N*P)
        def col2im_T():
            c6 = gcolsT.reshape(cin, 5, 5, N, O, O)
            out = np.zeros((cin, N, H, H), np.float32)
            for i in range(5):
                for j in range(5):
                    out[:, :, i:i+O, j:j+O] += c6[:, i, j]
            return out.transpose(1, 0, 2, 3)
        assert np.allclose(col2im_T(), col2im(gcols, xp.shape, (5,5), (1,1), (1,1), (O,O)), atol=1e-3)
        print(f"  [D] w^T@gT                {t(lambda: w.T @ gT):7.2f} ms")
        print(f"  [D] col2im from (CK,N*P)  {t(col2im_T):7.2f} ms")

# max-pool, relu
for name, C, H in (("pool1", 6, 28), ("pool2", 16, 10)):
    x = np.maximum(rng.standard_normal((N, C, H, H), dtype=np.float32), 0)
    xt = Tensor(x, requires_grad=True)
    out = P.max_pool(xt, 2, 2)
    g = rng.standard_normal(out.shape, dtype=np.float32)
    print(f"== {name}: {x.shape}")
    print(f"  max_pool fwd (current)    {t(lambda: P.max_pool(xt, 2, 2)):7.2f} ms")
    print(f"  max_pool bwd (current)    {t(lambda: out._backward(g)):7.2f} ms")
    Ho = H // 2
    def fwd_arg():
        xw = x.reshape(N, C, Ho, 2, Ho, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, Ho, Ho, 4)
        idx = xw.argmax(-1)
        return np.take_along_axis(xw, idx[..., None], -1)[..., 0], idx
    o2, idx = fwd_arg()
    assert np.array_equal(o2, out.data)
    def bwd_arg():
        gw = np.zeros((N, C, Ho, Ho, 4), np.float32)
        np.put_along_axis(gw, idx[..., None], g[..., None], -1)
        return gw.reshape(N, C, Ho, Ho, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H, H)
    assert np.array_equal(bwd_arg(), out._backward(g)[0])
    print(f"  [alt] argmax fwd          {t(fwd_arg):7.2f} ms")
    print(f"  [alt] argmax bwd          {t(bwd_arg):7.2f} ms")
    # mask variant: one-pass, ties resolved in scan order
    def bwd_mask():
        xr = x.reshape(N, C, Ho, 2, Ho, 2)
        o = out.data[:, :, :, None, :, None]
        gx = np.empty_like(x).reshape(N, C, Ho, 2, Ho, 2)
        taken = np.zeros(out.shape, bool)
        gg = g
        for a in range(2):
            for b in range(2):
                hit = (xr[:, :, :, a, :, b] == out.data) & ~taken
                gx[:, :, :, a, :, b] = np.where(hit, gg, 0)
                taken |= hit
        return gx.reshape(N, C, H, H)
    assert np.array_equal(bwd_mask(), out._backward(g)[0])
    print(f"  [alt] mask bwd, no +=     {t(bwd_mask):7.2f} ms")
    gr = rng.standard_normal(x.shape, dtype=np.float32)
    print(f"  relu fwd                  {t(lambda: np.maximum(x, 0)):7.2f} ms")
    print(f"  relu bwd g*(out>0)        {t(lambda: gr * (x > 0)):7.2f} ms")
    print(f"  [alt] np.where(out>0,g,0) {t(lambda: np.where(x > 0, gr, np.float32(0))):7.2f} ms")
