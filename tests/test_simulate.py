import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssnl.simulate import check_simulations, simulate
from ssnl.standardize import fit_standardizer


def test_one_dimensional_output_accepted():
    y = check_simulations(np.arange(4.0), num_simulations=4, data_dim=1, task_name="t")
    assert y.shape == (4, 1)
    assert y.dtype == np.float32


def test_wrong_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"shape \(4, 3\).*expected \(4, 2\)"):
        check_simulations(np.zeros((4, 3)), num_simulations=4, data_dim=2, task_name="t")


def test_integer_output_cast_to_float32():
    y = check_simulations(np.ones((3, 2), np.int64), num_simulations=3, data_dim=2, task_name="t")
    assert y.dtype == np.float32


def _invalid_rows_1_and_3(key, theta):
    y = np.array(theta, dtype=np.float64)
    y[1, 0] = np.nan
    y[3, 1] = np.inf
    return y


def test_nan_rows_counted_in_error():
    theta = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match="2 of 5 simulations contain NaN or Inf"):
        simulate(jax.random.key(0), _invalid_rows_1_and_3, theta, data_dim=2, task_name="t")


def test_nan_rows_excluded_on_request():
    theta = np.arange(10.0, dtype=np.float32).reshape(5, 2)
    with pytest.warns(UserWarning, match="2 of 5 simulations"):
        valid = simulate(
            jax.random.key(0),
            _invalid_rows_1_and_3,
            theta,
            data_dim=2,
            task_name="t",
            exclude_invalid=True,
        )
    assert valid.num_invalid == 2
    np.testing.assert_array_equal(valid.theta, theta[[0, 2, 4]])
    np.testing.assert_array_equal(valid.y, theta[[0, 2, 4]])


def test_simulate_batches_cover_all_rows():
    def simulator(key, theta):
        return 2.0 * theta

    theta = np.arange(10.0, dtype=np.float32).reshape(5, 2)

    result = simulate(jax.random.key(0), simulator, theta, data_dim=2, task_name="t", batch_size=2)
    np.testing.assert_array_equal(result.y, 2.0 * theta)
    assert result.num_invalid == 0


def test_standardizer_constant_column_has_unit_scale():
    values = np.stack([np.linspace(0.0, 1.0, 50), np.full(50, 3.0)], axis=1)
    standardizer = fit_standardizer(values)
    assert standardizer.scale[1] == 1.0
    transformed = standardizer.transform(jnp.asarray(values))
    assert np.all(np.isfinite(transformed))
    np.testing.assert_allclose(transformed[:, 1], 0.0)
    # float32 statistics of 50 evenly spaced points: mean 0 and sd 1 to about 1e-6.
    np.testing.assert_allclose(np.mean(transformed[:, 0]), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.std(transformed[:, 0]), 1.0, atol=1e-5)
