"""The ground-truth data interface used by the disentanglement metrics.

A ground-truth dataset is a grid of discrete generative factors
``factor_sizes = (K_1, ..., K_F)``; an observation is a deterministic (or
stochastic) function of one factor vector. Metrics only need two operations,
as in disentanglement_lib (Locatello et al., 2019):

* ``sample_factors(num, random_state) -> int64 [num, F]``
* ``sample_observations_from_factors(factors, random_state) -> float32 [num, *observation_shape]``
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

RandomStateLike = Union[np.random.RandomState, int, np.integer, None]


def as_random_state(random_state: RandomStateLike) -> np.random.RandomState:
    """``random_state`` itself, ``RandomState(seed)`` for an int, or a fresh one for None."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if random_state is None:
        return np.random.RandomState()
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise TypeError(
        "random_state must be a numpy RandomState, an int seed or None, "
        f"got {type(random_state).__name__}"
    )


def check_factors(factors: np.ndarray, factor_sizes: Sequence[int]) -> np.ndarray:
    """Validates integer factor indices of shape [N, F] against the grid; returns them as int64."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != len(factor_sizes):
        raise ValueError(
            f"factors must have shape [num, {len(factor_sizes)}], got {factors.shape}"
        )
    if factors.size and not np.issubdtype(factors.dtype, np.integer):
        raise TypeError(f"factors must be integer indices, got dtype {factors.dtype}")
    factors = factors.astype(np.int64, copy=False)
    sizes = np.asarray(factor_sizes, dtype=np.int64)
    bad = (factors < 0) | (factors >= sizes)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"factor {col} of row {row} is {factors[row, col]}, "
            f"expected an index in [0, {sizes[col]}); factor_sizes={tuple(factor_sizes)}"
        )
    return factors


class GroundTruthData(abc.ABC):
    """A dataset with known discrete generative factors (disentanglement_lib interface).

    Subclasses set ``factor_sizes``, ``factor_names``, ``observation_shape`` and
    implement ``sample_observations_from_factors``; a factor whose values have names
    (dSprites' shapes) names them in ``factor_value_names`` (one tuple of names, or None,
    per factor), which figures show instead of the value indices.
    """

    factor_sizes: tuple[int, ...]
    factor_names: tuple[str, ...]
    observation_shape: tuple[int, ...]
    factor_value_names: Optional[tuple[Optional[tuple[str, ...]], ...]] = None

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, num: int, random_state: RandomStateLike = None) -> np.ndarray:
        """Samples ``num`` factor vectors uniformly over the grid: int64 [num, num_factors]."""
        rs = as_random_state(random_state)
        return np.stack(
            [rs.randint(size, size=int(num)) for size in self.factor_sizes], axis=1
        ).astype(np.int64)

    @abc.abstractmethod
    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: RandomStateLike = None
    ) -> np.ndarray:
        """Returns float32 [num, *observation_shape] observations for the factor rows."""

    def sample(
        self, num: int, random_state: RandomStateLike = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``(factors, observations)`` for ``num`` uniform factor vectors."""
        rs = as_random_state(random_state)
        factors = self.sample_factors(num, rs)
        return factors, self.sample_observations_from_factors(factors, rs)

    def sample_observations(self, num: int, random_state: RandomStateLike = None) -> np.ndarray:
        """Samples ``num`` observations for uniform factor vectors."""
        return self.sample(num, random_state)[1]


class FactorLookup(GroundTruthData):
    """Ground-truth interface over a loaded table of (factors, observation) pairs.

    ``sample_observations_from_factors`` looks each factor vector up in the table and
    raises ``ValueError`` if that combination was not loaded. ``sample_factors``
    samples uniformly among the loaded rows, which is uniform over the grid when
    the whole grid is loaded (as for a complete dSprites / Shapes3D split).
    """

    def __init__(
        self,
        factors: np.ndarray,
        observations: np.ndarray,
        factor_sizes: Sequence[int],
        factor_names: Sequence[str],
    ):
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.factor_names = tuple(factor_names)
        self._factors = check_factors(factors, self.factor_sizes)
        self._observations = observations
        if len(self._factors) != len(observations):
            raise ValueError(
                f"got {len(self._factors)} factor rows but {len(observations)} observations"
            )
        if len(observations) == 0:
            raise ValueError("FactorLookup needs at least one (factors, observation) pair")
        self.observation_shape = tuple(observations.shape[1:])
        self._row_of = np.full(int(np.prod(self.factor_sizes)), -1, dtype=np.int64)
        self._row_of[self._flat(self._factors)] = np.arange(len(self._factors))

    def _flat(self, factors: np.ndarray) -> np.ndarray:
        return np.ravel_multi_index(tuple(factors.T), self.factor_sizes)

    @property
    def is_complete(self) -> bool:
        """Whether every combination of the factor grid is in the table."""
        return bool((self._row_of >= 0).all())

    def sample_factors(self, num: int, random_state: RandomStateLike = None) -> np.ndarray:
        """Factor vectors of ``num`` loaded rows drawn uniformly with replacement."""
        rows = as_random_state(random_state).randint(len(self._factors), size=int(num))
        return self._factors[rows].copy()

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: RandomStateLike = None
    ) -> np.ndarray:
        """Looks the observations up (float32 in [0, 1], also from a uint8 table);
        ``random_state`` is unused (the table is fixed)."""
        factors = check_factors(factors, self.factor_sizes)
        rows = self._row_of[self._flat(factors)]
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            raise ValueError(
                f"factor combination {factors[missing[0]].tolist()} "
                f"({dict(zip(self.factor_names, factors[missing[0]].tolist()))}) "
                f"is not in the loaded data ({missing.size} of {len(factors)} requested rows "
                "missing); load the full split (no max_examples) to use the whole grid"
            )
        observations = self._observations[rows]
        if observations.dtype == np.uint8:
            return observations.astype(np.float32) / np.float32(255.0)
        return observations
