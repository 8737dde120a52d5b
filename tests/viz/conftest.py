"""Fixtures for the figure and TensorBoard tests: the 8x8 digits."""

import pytest

import ae_zoo.data as data


@pytest.fixture(scope="session")
def digits():
    return data.load("digits", "test")
