"""The README's example of the retrieval library, run as a user would: in a folder with the sample article."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    section = (PROJECT / "README.md").read_text().split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_library_example_answers_and_saves(tmp_path, shared_model_cache):
    shutil.copytree(PROJECT / "articles", tmp_path / "articles")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").symlink_to(shared_model_cache, target_is_directory=True)  # exported once per session
    (tmp_path / "example.py").write_text(readme_example())
    done = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    assert done.returncode == 0, done.stderr
    assert "Hamas Claiming Progress in Truce Negotiations › " in done.stdout
    assert "best sentence: Amidst the chaos and destruction, there have been recent claims by Hamas leader Ismail Haniyeh" in done.stdout
    assert "No indexed article is called 'no-such-article'." in done.stdout
    assert (tmp_path / "data" / "index" / "CURRENT").is_file()
