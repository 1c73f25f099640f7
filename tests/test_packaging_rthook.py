"""packaging/rthook_userdirs.py: a packaged app's numba kernels are cached in the user's
cache folder, keyed by their source file, whatever the working folder (run in a subprocess
that plays the frozen app: the hook installed before numba loads)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import os, runpy, sys
sys._MEIPASS = sys.argv[1]                       # the bundle's root: the kernels' sources are in it
runpy.run path_placeholder
sys.path.insert(0, sys.argv[1])
import numpy as np
import kern
print(kern.twice(np.arange(4.0)).sum())
"""


def _run(tmp_path: Path, cwd: Path) -> subprocess.CompletedProcess:
    code = CHILD.replace("runpy.run path_placeholder",
                         f"runpy.run_path({str(ROOT / 'packaging' / 'rthook_userdirs.py')!r})")
    env = {**os.environ, "CLASSKIT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-B", "-c", code, str(tmp_path / "bundle")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_kernels_cache_in_the_user_folder_once(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "kern.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef twice(x):\n    return x * 2\n")
    os.chmod(bundle, 0o555)  # read-only, like an installed bundle: no __pycache__ next to it
    try:
        for cwd in (tmp_path, bundle):
            out = _run(tmp_path, cwd)
            assert out.returncode == 0 and out.stdout.strip() == "12.0", out.stderr
            assert "numba cache folder not set" not in out.stderr
    finally:
        os.chmod(bundle, 0o755)
    cached = sorted(p.name for p in (tmp_path / "cache" / "numba").rglob("*") if p.is_file())
    assert any(n.endswith(".nbi") for n in cached) and any(n.endswith(".nbc") for n in cached), cached
    assert len([n for n in cached if n.endswith(".nbi")]) == 1  # the second run reused it
    assert not list(bundle.rglob("*.nb[ic]"))  # nothing numba wrote inside the bundle
