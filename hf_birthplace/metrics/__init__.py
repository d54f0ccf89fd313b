"""Local `evaluate` metric modules: they load without network access."""

import importlib
import os
import sys
from pathlib import Path

PLACE_ACCURACY_PATH = str(Path(__file__).with_name("place_accuracy.py"))


def _evaluate_library():
    """The `evaluate` library, even when `scripts/evaluate.py` shadows it.

    Python puts a script's folder first on `sys.path`, so any script run from `scripts/` would import
    `scripts/evaluate.py` for `import evaluate`. Import the library with such folders left out.
    """
    module = sys.modules.get("evaluate")
    if module is not None and hasattr(module, "load"):
        return module
    sys.modules.pop("evaluate", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if not os.path.isfile(os.path.join(p or ".", "evaluate.py"))]
    try:
        return importlib.import_module("evaluate")
    finally:
        sys.path[:] = saved


def load_place_accuracy():
    """The birthplace exact-match metric as an `evaluate.EvaluationModule`, loaded from the package (offline)."""
    return _evaluate_library().load(PLACE_ACCURACY_PATH)
