"""Running code in a Python process that cannot import hf_birthplace, as a Hub user without the package would.

`run_without_hf_birthplace(script, args, tmp_path)` runs `BLOCK_HF_BIRTHPLACE + script` in a fresh interpreter
whose import system refuses `hf_birthplace` (it is pip-installed editable here, so PYTHONPATH alone would not hide it),
from an empty folder, offline, with its own `HF_MODULES_CACHE` so that `trust_remote_code` copies the checkpoint's
code afresh. The script prints what it wants checked; `sys.modules` is left for it to inspect.
"""

import os
import subprocess
import sys
from pathlib import Path

BLOCK_HF_BIRTHPLACE = """
import importlib.abc, sys

class BlockHfBirthplace(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hf_birthplace" or name.startswith("hf_birthplace."):
            raise ImportError("hf_birthplace is blocked in this test")

sys.meta_path.insert(0, BlockHfBirthplace())
try:
    import hf_birthplace
    raise SystemExit("hf_birthplace should not be importable here")
except ImportError:
    pass
"""


def run_without_hf_birthplace(
    script: str, args: list[str], tmp_path: Path, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `script` (with `args` as sys.argv[1:]) where hf_birthplace cannot be imported; returns the finished
    process (text stdout/stderr) for the caller to check."""
    path = tmp_path / "without_hf_birthplace.py"
    path.write_text(BLOCK_HF_BIRTHPLACE + script, encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(empty),  # not the repository
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "OMP_NUM_THREADS": "1",  # tiny models; the machine's cores are shared
    }
    return subprocess.run(
        [sys.executable, str(path), *args], cwd=empty, env=env, capture_output=True, text=True, timeout=timeout
    )
