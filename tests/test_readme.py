"""Every Python block of the README runs as written, with smaller training budgets.

Each block runs in a fresh namespace inside a temporary directory (what it saves lands
there). The only edits are the budgets below, and the TF Serving client block is pointed
at an in-process stand-in server for the shipped zoo instead of localhost:8501.
"""

import pathlib
import re

import pytest

from ae_zoo.export import available, zoo_dir
from tests.export.serving_client import StandInServer

README = pathlib.Path(__file__).parents[1] / "README.md"
#: The README's training budgets -> the test's.
BUDGETS = {"epochs=20": "epochs=1", "epochs=5": "epochs=1", "num_samples=50": "num_samples=5",
           "num_samples=1000)": "num_samples=10)",
           "fit(train.x, train.y,": "fit(train.x[:512], train.y[:512],",  # before the next
           "fit(train.x,": "fit(train.x[:512],"}
#: Blocks run elsewhere, by a line they hold -> where.
ELSEWHERE = {
    "class MMDVAE(VAE):": "ae_zoo/examples/mmd_vae.py, which tests/test_extension.py checks "
                          "is this block, runs through the shared battery",
}
SERVER_URL = "http://localhost:8501"


def python_blocks():
    """``[(id, code)]``: each ```python block, named by its section and place."""
    blocks, section, counts = [], "top", {}
    for part in re.split(r"(^```python\n.*?^```$)", README.read_text(), flags=re.S | re.M):
        if part.startswith("```python"):
            counts[section] = counts.get(section, 0) + 1
            blocks.append((f"{section}-{counts[section]}", part[len("```python\n"):-3]))
        else:
            prose = re.sub(r"^```.*?^```$", "", part, flags=re.S | re.M)  # other code blocks
            headings = re.findall(r"^#+ (.+)$", prose, flags=re.M)
            section = re.sub(r"\W+", "_", headings[-1]).strip("_").lower() if headings else section
    return blocks


BLOCKS = python_blocks()


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_readme_python_block_runs(code, tmp_path, monkeypatch):
    for line, where in ELSEWHERE.items():
        if line in code:
            pytest.skip(f"runs as {where}")
    for written, budget in BUDGETS.items():
        code = code.replace(written, budget)
    monkeypatch.chdir(tmp_path)
    if SERVER_URL in code:
        if not {"vae_mnist5k", "cvae_mnist5k"} <= set(available()):
            pytest.skip("needs the shipped zoo")
        models = {name: f"{zoo_dir()}/{name}/1" for name in ("vae_mnist5k", "cvae_mnist5k")}
        with StandInServer(models) as server:
            exec(compile(code.replace(SERVER_URL, server.base_url), "README.md", "exec"), {})
        return
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_block"})


def test_every_python_block_is_found():
    assert len(BLOCKS) == README.read_text().count("```python")
    assert len(BLOCKS) >= 5
