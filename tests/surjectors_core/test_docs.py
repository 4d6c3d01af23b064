import re
from pathlib import Path

import surjectors_core

DOC = (Path(__file__).resolve().parents[2] / "docs" / "surjectors_core.md").read_text()


def test_docs_cover_every_public_name():
    documented = set(re.findall(r"`([A-Za-z_]+)", DOC))
    missing = [name for name in surjectors_core.__all__ if name not in documented]
    assert missing == []


def test_docs_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/surjectors_core.md", "exec"), {})
