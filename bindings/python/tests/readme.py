"""The python code blocks of bindings/python/README.md, so that tests run every one of them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(section: str) -> List[str]:
    """The python blocks under ``## section``, in order."""
    text = README.read_text()
    m = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert m, f"README.md has no section {section!r}"
    return re.findall(r"```python\n(.*?)```", m.group(1), flags=re.S)


def files(section: str) -> Dict[str, str]:
    """The blocks of ``section`` that start with a ``# name.py`` line, by that name."""
    out = {}
    for block in blocks(section):
        first = block.splitlines()[0]
        if re.fullmatch(r"# [\w.]+\.py", first):
            out[first[2:]] = block
    return out


def scripts(section: str) -> List[str]:
    """The blocks of ``section`` that are not files of a project: scripts to run as they are."""
    named = set(files(section).values())
    return [b for b in blocks(section) if b not in named]
