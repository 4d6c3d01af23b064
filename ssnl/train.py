"""Maximum-likelihood training of the conditional density estimator with early stopping."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

__all__ = ["TrainingConfig", "TrainingResult", "train"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Settings of one round of training.

    Attributes:
        learning_rate: Adam step size. Default 1e-3.
        batch_size: Minibatch size. Default 100.
        max_epochs: Upper limit on passes over the training split. Default 500.
        patience: Stop after this many epochs without a lower validation loss. Default 20.
        validation_fraction: Share of the pooled simulations held out for early stopping.
            Default 0.1.
        clip_norm: Global gradient norm above which gradients are rescaled. Default 5.0.
        warm_start: Start each round from the previous round's parameters instead of a fresh
            initialisation. Default True: on slcp (sbibm observation 1, 10 rounds of 1,000
            simulations, seeds 0 and 1) it halved the fit time on a 2-core CPU, with C2ST
            0.712 and 0.739 against 0.720 and 0.719 when re-initialised, a difference within
            the spread between seeds. The published SNLE and SSNL experiments re-initialise.
    """

    learning_rate: float = 1e-3
    batch_size: int = 100
    max_epochs: int = 500
    patience: int = 20
    validation_fraction: float = 0.1
    clip_norm: float = 5.0
    warm_start: bool = True

    def __post_init__(self):
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}.")
        for name in ("batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must lie in (0, 1), got {self.validation_fraction}."
            )
        if not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be positive, got {self.clip_norm}.")


class TrainingResult(NamedTuple):
    """Outcome of one round of training.

    Attributes:
        params: Haiku parameters with the lowest validation loss.
        train_loss: Mean negative log-likelihood on the training split at the best epoch.
        validation_loss: Lowest mean negative log-likelihood on the validation split.
        num_epochs: Number of epochs run.
        train_losses: Training loss per epoch, shape `(num_epochs,)`.
        validation_losses: Validation loss per epoch, shape `(num_epochs,)`.
    """

    params: Any
    train_loss: float
    validation_loss: float
    num_epochs: int
    train_losses: np.ndarray
    validation_losses: np.ndarray


@functools.lru_cache(maxsize=8)
def _compiled_steps(log_prob: hk.Transformed, config: TrainingConfig, batch_size: int):
    """Build the jitted epoch and validation functions of one estimator and configuration.

    The functions take arrays padded to a fixed capacity and the number of real rows as a
    traced argument, so a pool that grows between rounds reuses the compiled programs. The
    cache keeps them for the lifetime of `log_prob`, which `fit` creates once per fit.
    """
    optimizer = _make_optimizer(config)

    def batch_loss(params, y, theta, weight):
        log_density = log_prob.apply(params, y, theta)
        return -jnp.sum(weight * log_density) / jnp.maximum(jnp.sum(weight), 1.0)

    @jax.jit
    def run_epoch(params, opt_state, key, y, theta, num_points):
        capacity = y.shape[0]
        is_real = jnp.arange(capacity) < num_points

        # Real rows first, in random order; the padding rows sort last and never enter a batch
        # with nonzero weight. The loop runs over the real rows' batches only. Each row's
        # score depends on its index alone, so the order does not depend on the capacity.
        row_keys = jax.vmap(functools.partial(jax.random.fold_in, key))(jnp.arange(capacity))
        row_scores = jax.vmap(jax.random.uniform)(row_keys)
        scores = jnp.where(is_real, row_scores, 2.0)
        order = jnp.argsort(scores)
        order = jnp.concatenate([order, jnp.zeros((batch_size,), order.dtype)])
        num_batches = (num_points + batch_size - 1) // batch_size

        def step(index, carry):
            params, opt_state, loss_sum = carry
            start = index * batch_size
            rows = jax.lax.dynamic_slice(order, (start,), (batch_size,))
            weight = (start + jnp.arange(batch_size) < num_points).astype(y.dtype)
            loss, grads = jax.value_and_grad(batch_loss)(params, y[rows], theta[rows], weight)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return params, opt_state, loss_sum + loss * jnp.sum(weight)

        params, opt_state, loss_sum = jax.lax.fori_loop(
            0, num_batches, step, (params, opt_state, jnp.zeros((), y.dtype))
        )
        return params, opt_state, loss_sum / num_points

    @jax.jit
    def validation_loss(params, y, theta, num_points):
        weight = (jnp.arange(y.shape[0]) < num_points).astype(y.dtype)
        return -jnp.sum(weight * log_prob.apply(params, y, theta)) / num_points

    return run_epoch, validation_loss


def _make_optimizer(config: TrainingConfig):
    return optax.chain(
        optax.clip_by_global_norm(config.clip_norm), optax.adam(config.learning_rate)
    )


def _pad_rows(values: np.ndarray, num_rows: int) -> jax.Array:
    padding = np.zeros((num_rows - values.shape[0], *values.shape[1:]), values.dtype)
    return jnp.asarray(np.concatenate([values, padding]))


def train(
    key: jax.Array,
    log_prob: hk.Transformed,
    theta: np.ndarray,
    y: np.ndarray,
    *,
    config: TrainingConfig = TrainingConfig(),
    init_params: Any = None,
    capacity: int | None = None,
    progress: bool = False,
) -> TrainingResult:
    """Fit `log_prob(y, theta)` to pairs by maximum likelihood with early stopping.

    Args:
        key: PRNG key for the split, the initialisation and the minibatch order.
        log_prob: Haiku transform without apply key of `(y, theta) -> log q(y | theta)`,
            shapes `(n, data_dim)`
            and `(n, theta_dim)` to `(n,)`.
        theta: Standardised parameters, shape `(num_simulations, theta_dim)`.
        y: Standardised data, shape `(num_simulations, data_dim)`.
        config: Optimiser and stopping settings.
        init_params: Parameters to start from; a fresh initialisation when None.
        capacity: Largest number of simulations this estimator will be trained on (for
            example the final pool size of a sequential fit). The data are padded to it, so
            every round with a pool up to `capacity` reuses one compiled training program.
        progress: Whether to show a progress bar over epochs.

    Returns:
        The parameters with the lowest validation loss and the loss history.
    """
    num_points = theta.shape[0]
    num_validation = max(1, int(round(config.validation_fraction * num_points)))
    if num_points - num_validation < 2:
        raise ValueError(
            f"Training needs at least 3 simulations (2 for training, 1 for validation), "
            f"got {num_points}."
        )
    split_key, init_key, epoch_key = jax.random.split(key, 3)

    order = np.asarray(jax.random.permutation(split_key, num_points))
    validation_index, train_index = order[:num_validation], order[num_validation:]
    theta, y = np.asarray(theta, np.float32), np.asarray(y, np.float32)
    theta_train, y_train = theta[train_index], y[train_index]
    theta_valid, y_valid = theta[validation_index], y[validation_index]

    capacity = max(capacity or 0, num_points)
    num_train = num_points - num_validation
    train_capacity = capacity - max(1, int(round(config.validation_fraction * capacity)))
    train_capacity = max(train_capacity, num_train)
    validation_capacity = max(capacity - train_capacity, num_validation)
    y_train, theta_train = (_pad_rows(v, train_capacity) for v in (y_train, theta_train))
    y_valid, theta_valid = (_pad_rows(v, validation_capacity) for v in (y_valid, theta_valid))

    params = init_params
    if params is None:
        params = log_prob.init(init_key, y_train[:2], theta_train[:2])
    opt_state = _make_optimizer(config).init(params)
    batch_size = min(config.batch_size, train_capacity)
    run_epoch, validation_loss_fn = _compiled_steps(log_prob, config, batch_size)

    best_params, best_validation, best_train = params, math.inf, math.inf
    train_losses, validation_losses = [], []
    epochs_since_best = 0
    bar = tqdm(total=config.max_epochs, desc="train", disable=not progress, leave=False)
    for epoch in range(config.max_epochs):
        params, opt_state, train_loss = run_epoch(
            params,
            opt_state,
            jax.random.fold_in(epoch_key, epoch),
            y_train,
            theta_train,
            num_train,
        )
        train_loss = float(train_loss)
        validation_loss = float(validation_loss_fn(params, y_valid, theta_valid, num_validation))
        train_losses.append(train_loss)
        validation_losses.append(validation_loss)
        bar.update(1)
        bar.set_postfix(train=f"{train_loss:.3f}", validation=f"{validation_loss:.3f}")

        if not (math.isfinite(train_loss) and math.isfinite(validation_loss)):
            logger.warning(
                "training loss became non-finite at epoch %d (train %s, validation %s); "
                "keeping the parameters of the best epoch",
                epoch + 1,
                train_loss,
                validation_loss,
            )
            break
        if validation_loss < best_validation:
            best_params, best_validation, best_train = params, validation_loss, train_loss
            epochs_since_best = 0
        else:
            epochs_since_best += 1
            if epochs_since_best >= config.patience:
                break
    bar.close()

    if not math.isfinite(best_validation):
        raise FloatingPointError(
            "Training produced no finite validation loss. Check the simulations for extreme "
            "values, or lower TrainingConfig.learning_rate."
        )
    num_epochs = len(train_losses)
    logger.info(
        "trained %d epochs: train loss %.4f, validation loss %.4f",
        num_epochs,
        best_train,
        best_validation,
    )
    return TrainingResult(
        best_params,
        best_train,
        best_validation,
        num_epochs,
        np.asarray(train_losses),
        np.asarray(validation_losses),
    )
