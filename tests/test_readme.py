import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_example_block_matches_script():
    block = re.search(r"```python\n(import distrax.*?)```", README, re.DOTALL).group(1)
    script = (ROOT / "examples" / "custom_simulator.py").read_text()
    assert block == script[script.index("import distrax") :]


def test_ci_runs_readme_test_command():
    quickstart = README[README.index("## Quickstart") : README.index("## Your own simulator")]
    commands = re.findall(r"```bash\n(.*?)\n```", quickstart, re.DOTALL)
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text()
