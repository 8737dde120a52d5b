"""Fixtures of the experiment tests."""

import pytest
from matplotlib.figure import Figure


@pytest.fixture
def saved(monkeypatch):
    """Every matplotlib Figure saved while the test runs, in order (to read a figure a
    command wrote back as matplotlib objects: its titles, labels, legend, bars)."""
    figures, savefig = [], Figure.savefig

    def spy(fig, *args, **kwargs):
        figures.append(fig)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures
