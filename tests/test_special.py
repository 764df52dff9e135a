"""``strided.special.erf`` / ``erfc`` against the standard library's ``math.erf`` / ``math.erfc``.

The oracle is ``math`` (correctly rounded to within an ulp or so, one Python call per value);
the vectorised functions must agree on a dense grid, random points and the special values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from strided.special import erf, erfc

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


def reference(fn, x):
    return np.array([fn(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


def points():
    rng = np.random.default_rng(0)
    return np.concatenate([
        np.linspace(-7, 7, 140001),                                     # the whole range where erf moves
        rng.standard_normal(50000) * 2,
        rng.uniform(-1e-3, 1e-3, 1000), np.geomspace(1e-300, 1e-2, 500), -np.geomspace(1e-300, 1e-2, 500),
        np.nextafter(1.0, [0.0, 2.0]), np.nextafter(-1.0, [0.0, -2.0]),  # either side of the switch at |x| = 1
        [0.0, -0.0, 1.0, -1.0, 5.9, 6.0, 6.1, 10.0, -10.0, 5e-324],
    ])


def test_erf_float64_agrees_with_math_erf_to_the_rounding():
    x = points()
    got, want = erf(x), reference(math.erf, x)
    assert got.dtype == np.float64 and got.shape == x.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2 * EPS64)                # within 2 ulp of 1
    small = np.abs(x) < 1                                                       # and relatively near 0
    np.testing.assert_allclose(got[small], want[small], rtol=4 * EPS64, atol=0)


def test_erfc_float64_is_relatively_accurate_into_the_tail():
    x = np.concatenate([points(), np.linspace(7, 27.2, 40001), np.linspace(-27, -1, 1001)])
    got, want = erfc(x), reference(math.erfc, x)
    normal = want > np.finfo(np.float64).tiny                                   # subnormal results excepted
    np.testing.assert_allclose(got[normal], want[normal], rtol=16 * EPS64, atol=0)
    np.testing.assert_allclose(got[~normal], want[~normal], rtol=0, atol=1e-310)


def test_float32_stays_float32_and_is_accurate_to_its_rounding():
    x = points().astype(np.float32)
    got = erf(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference(math.erf, x), rtol=0, atol=2 * EPS32)
    got_c = erfc(x[np.abs(x) < 9])
    assert got_c.dtype == np.float32
    want_c = reference(math.erfc, x[np.abs(x) < 9])
    normal = want_c > np.finfo(np.float32).tiny
    np.testing.assert_allclose(got_c[normal], want_c[normal], rtol=8 * EPS32, atol=0)


def test_special_values_symmetry_and_shapes():
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf, 0.0])), [1.0, -1.0, 0.0])
    assert np.signbit(erf(np.array([-0.0]))[0])
    np.testing.assert_array_equal(erfc(np.array([np.inf, -np.inf, 0.0])), [0.0, 2.0, 1.0])
    assert np.isnan(erf(np.array([np.nan]))).all() and np.isnan(erfc(np.array([np.nan]))).all()
    x = np.random.default_rng(1).standard_normal((3, 4, 5)) * 3
    np.testing.assert_array_equal(erf(-x), -erf(x))                             # odd, exactly
    np.testing.assert_allclose(erf(x) + erfc(x), 1.0, rtol=0, atol=2 * EPS64)
    assert erf(x).shape == (3, 4, 5) and erf(np.float64(0.5)).shape == ()
    assert erf([0, 1]).dtype == np.float64                                       # integers computed in float64


@pytest.mark.parametrize("value", [0.5, 1.0, 2.5, 4.0])
def test_hand_values(value):
    """A few values from the integral itself (Simpson's rule on 2/sqrt(pi) exp(-t^2), 2e5 panels)."""
    t = np.linspace(0.0, value, 400001)
    f = 2 / np.sqrt(np.pi) * np.exp(-t * t)
    h = t[1] - t[0]
    simpson = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    assert abs(erf(np.array(value)) - simpson) < 1e-14


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_erfc_gives_the_numpy_forms_bits(dtype):
    """From ``COMPILED_FROM`` values ``erfc`` runs fused kernels (``fast/special.py``): the same
    operations as the NumPy form, so the same bits, special values included; a strided slice and a
    transposed array (other memory orders) too."""
    from strided import fast
    if not fast.available():
        pytest.skip('the compiled path needs Numba: pip install "strided[fast]"')
    x = np.concatenate([points(), [np.inf, -np.inf, np.nan, 30.0, -30.0, 1e30, -1e30]]).astype(dtype)
    assert x.size >= fast.COMPILED_FROM
    grid = x[:60000].reshape(30, 40, 50)
    for given in (x, x[::3], grid.transpose(2, 0, 1)):
        with fast.using(True):
            got = erfc(given)
        with fast.disabled():
            want = erfc(given)
        assert got.dtype == dtype and got.shape == given.shape
        np.testing.assert_array_equal(got, want)                        # NaN equal to NaN
