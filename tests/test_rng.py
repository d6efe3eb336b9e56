import numpy as np

from deltaspace import rng


def test_draws_depend_only_on_seed_stream_index():
    a = rng.normal(3, "fakes", np.arange(100), 8)
    b = rng.normal(3, "fakes", [42, 7], 8)
    np.testing.assert_array_equal(a[[42, 7]], b)
    assert not np.allclose(rng.normal(4, "fakes", [7], 8), a[7])
    assert not np.allclose(rng.normal(3, "other", [7], 8), a[7])


def test_normal_moments_and_independence():
    z = rng.normal(0, "t", np.arange(50_000), 4).astype(np.float64)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.02
    u = rng.uniform(0, "u", np.arange(50_000), 1)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
