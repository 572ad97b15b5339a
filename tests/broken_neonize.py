"""A neonize that cannot be imported, for the child processes a test starts.

Engine workers and the engine probe are child processes that inherit ``PYTHONPATH``;
putting this package first there makes them meet a missing library, as on a machine
where neonize was never installed, while the test process keeps the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

MISSING = "No module named 'neonize'"


def broken_pythonpath(tmp_path: Path) -> str:
    """A ``PYTHONPATH`` on which ``import neonize`` fails as if it were not installed."""
    package = tmp_path / "broken-site" / "neonize"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f'raise ModuleNotFoundError("{MISSING}", name="neonize")\n'
    )
    current = os.environ.get("PYTHONPATH")
    return os.pathsep.join([str(package.parent), *([current] if current else [])])
