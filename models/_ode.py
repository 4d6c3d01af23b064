"""Adaptive Dormand-Prince 5(4) integration of small autonomous ODEs, batched over parameters.

The ODE tasks integrate their equations with this solver instead of an external library, so a
simulation stays a pure JAX function that `jax.jit` compiles. Each row of the parameter batch
gets its own step size. `jax.vmap` turns the per-row `lax.while_loop` into one loop that runs
until the slowest row has finished, and rows that are done only carry their state along.

The method is the Dormand-Prince 5(4) pair: the fifth-order solution is propagated, and the
last stage is reused as the first stage of the next step. The step size control follows
`scipy.integrate.RK45`. It measures the error estimate in the RMS norm scaled by
`atol + rtol * max(|y|, |y_new|)`, and the next step is `0.9 * error^(-1/5)` times the current
one, limited to a factor between 0.2 and 10. Unlike SciPy, it does not cap the factor at 1
after a rejection. The coefficients were checked equal to `RK45.A`, `RK45.B` and `RK45.E`
(up to sign) in SciPy 1.17's `scipy/integrate/_ivp/rk.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["solve_autonomous"]

# Butcher tableau of the Dormand-Prince 5(4) pair. Row i gives the weights of stages 0..i-1
# for stage i. The last row equals the fifth-order weights, so stage 6 is the derivative at
# the new state.
_STAGE_WEIGHTS = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_FIFTH_ORDER_WEIGHTS = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_FOURTH_ORDER_WEIGHTS = (
    5179 / 57600,
    0.0,
    7571 / 16695,
    393 / 640,
    -92097 / 339200,
    187 / 2100,
    1 / 40,
)
_ERROR_WEIGHTS = tuple(
    a - b for a, b in zip(_FIFTH_ORDER_WEIGHTS, _FOURTH_ORDER_WEIGHTS, strict=True)
)

_SAFETY_FACTOR = 0.9
_MIN_STEP_FACTOR = 0.2
_MAX_STEP_FACTOR = 10.0


def _weighted_sum(weights, slopes):
    """Return sum_j weights[j] * slopes[j], skipping zero weights."""
    terms = [
        weight * slope for weight, slope in zip(weights, slopes, strict=True) if weight != 0.0
    ]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _check_times(times) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"times must be a non-empty 1-D array, got shape {times.shape}.")
    if not np.all(np.isfinite(times)) or times[0] < 0.0 or np.any(np.diff(times) < 0.0):
        raise ValueError(
            "times must be finite, non-negative and non-decreasing, because the solver "
            f"integrates forward from t = 0; got {times.tolist()}."
        )
    return times


def solve_autonomous(
    vector_field: Callable[[jax.Array, jax.Array], jax.Array],
    initial_state: jax.Array,
    parameters: jax.Array,
    times,
    *,
    rtol: float,
    atol: float,
    initial_step: float,
    max_steps: int,
) -> tuple[jax.Array, jax.Array]:
    """Integrate `dy/dt = vector_field(y, parameters)` from t = 0 for each row of a batch.

    The solver steps exactly onto every time in `times` (it shortens the step that would pass
    one), so the saved states carry no interpolation error. A time equal to 0 saves the initial
    state.

    A row fails when its state or derivative becomes non-finite, when the proposed step no
    longer changes t in float32, or after `max_steps` attempted steps, rejected ones included.
    The states of a failed row are NaN at every time it did not reach.

    The vector field and the settings are static arguments of a compiled function. Pass a
    function defined once, at module level, so that repeated calls reuse the compilation.

    Args:
        vector_field: `vector_field(y, p)` for one state `y` of shape `(state_dim,)` and one
            parameter vector `p`, returning the derivative, shape `(state_dim,)`.
        initial_state: States at t = 0, shape `(n, state_dim)`.
        parameters: Parameters, shape `(n, num_parameters)`.
        times: Output times, a concrete 1-D array, non-negative and non-decreasing.
        rtol: Relative tolerance of the local error estimate.
        atol: Absolute tolerance of the local error estimate.
        initial_step: First step size tried.
        max_steps: Maximum number of attempted steps per row.

    Returns:
        The states at `times`, shape `(n, len(times), state_dim)`, and a boolean array of shape
        `(n,)` that is True where the row reached the last time.

    Raises:
        ValueError: If `times` is not a non-empty, non-negative, non-decreasing 1-D array.
    """
    times = tuple(float(time) for time in _check_times(times))
    return _solve_compiled(
        vector_field,
        jnp.asarray(initial_state, dtype=jnp.float32),
        jnp.asarray(parameters, dtype=jnp.float32),
        times,
        rtol=float(rtol),
        atol=float(atol),
        initial_step=float(initial_step),
        max_steps=int(max_steps),
    )


# The compiled loop is cached per vector field, settings and input shapes. A vector field
# defined once at module level therefore compiles once, while a new lambda per call recompiles.
@functools.partial(
    jax.jit,
    static_argnames=("vector_field", "times", "rtol", "atol", "initial_step", "max_steps"),
)
def _solve_compiled(
    vector_field, initial_state, parameters, times, *, rtol, atol, initial_step, max_steps
):
    times = jnp.asarray(times, dtype=jnp.float32)
    num_times = times.shape[0]
    epsilon = float(np.finfo(np.float32).eps)

    def solve_row(state0, row_parameters):
        def derivative(state):
            return vector_field(state, row_parameters)

        def keep_going(carry):
            _, state, slope, step, time_index, _, num_steps, stalled = carry
            finite = jnp.all(jnp.isfinite(state)) & jnp.all(jnp.isfinite(slope))
            return (time_index < num_times) & (num_steps < max_steps) & finite & ~stalled

        def attempt_step(carry):
            t, state, slope, step, time_index, saved, num_steps, _ = carry
            target = times[jnp.minimum(time_index, num_times - 1)]
            remaining = target - t
            reaches_target = step >= remaining
            h = jnp.minimum(step, remaining)

            slopes = [slope]
            for weights in _STAGE_WEIGHTS[1:]:
                slopes.append(derivative(state + h * _weighted_sum(weights, slopes)))
            new_state = state + h * _weighted_sum(_FIFTH_ORDER_WEIGHTS, slopes)
            error = h * _weighted_sum(_ERROR_WEIGHTS, slopes)

            scale = atol + rtol * jnp.maximum(jnp.abs(state), jnp.abs(new_state))
            error_norm = jnp.sqrt(jnp.mean((error / scale) ** 2))
            # A NaN error norm comes from a trial step so long that a stage overflowed. It is
            # rejected and shrinks the step like a large error does.
            accepted = error_norm <= 1.0
            factor = _SAFETY_FACTOR * error_norm ** (-0.2)
            factor = jnp.where(jnp.isnan(factor), _MIN_STEP_FACTOR, factor)
            factor = jnp.clip(factor, _MIN_STEP_FACTOR, _MAX_STEP_FACTOR)

            # A step cut short to land on an output time does not show that the longer step
            # proposed before it was too long, so that proposal is kept.
            reached = accepted & reaches_target
            next_step = jnp.where(reached, jnp.maximum(step, h * factor), h * factor)
            next_t = jnp.where(accepted, jnp.where(reaches_target, target, t + h), t)
            saved = jnp.where(
                reached & (jnp.arange(num_times) == time_index)[:, None], new_state, saved
            )
            stalled = next_step <= 4.0 * epsilon * jnp.maximum(jnp.abs(next_t), 1.0)
            return (
                next_t,
                jnp.where(accepted, new_state, state),
                jnp.where(accepted, slopes[-1], slope),
                next_step,
                time_index + reached.astype(jnp.int32),
                saved,
                num_steps + 1,
                stalled,
            )

        carry = (
            jnp.float32(0.0),
            state0,
            derivative(state0),
            jnp.float32(initial_step),
            jnp.int32(0),
            jnp.full((num_times, state0.shape[0]), jnp.nan, dtype=jnp.float32),
            jnp.int32(0),
            jnp.bool_(False),
        )
        carry = jax.lax.while_loop(keep_going, attempt_step, carry)
        time_index, saved = carry[4], carry[5]
        return saved, time_index == num_times

    return jax.vmap(solve_row)(initial_state, parameters)
