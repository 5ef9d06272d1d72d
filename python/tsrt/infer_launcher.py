"""`infer MODEL [options]`: the installed command that runs libtsrt's C++ CLI.

pip puts console scripts on PATH, not the package's own binaries: this launcher
finds `tsrt/bin/infer` beside the compiled module and replaces itself with it
(exec: same pid, signals and exit code), without importing torch first.
"""

from __future__ import annotations

import importlib.util
import os
import sys

#: Either set in the environment means the user chose how OpenMP threads wait (in the
#: order tsrt::openmp_wait_setting reports them).
OPENMP_WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
#: What tsrt's programs set when the user did not: spin ~10 us at a barrier, then sleep
#: (tsrt::kOpenMPWaitVariable/kOpenMPWaitDefault in cpp/include/tsrt/openmp.h say why).
OPENMP_WAIT_DEFAULT = ("GOMP_SPINCOUNT", "1000")


def find_binary() -> str | None:
    """tsrt/bin/infer in the installed package (an editable install keeps the compiled
    parts in another directory of the same package: every location is searched)."""
    spec = importlib.util.find_spec("tsrt")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(location, "bin", "infer")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def main() -> int:
    binary = find_binary()
    if binary is None:
        print("infer: tsrt's C++ CLI is not installed (tsrt/bin/infer missing): reinstall tsrt", file=sys.stderr)
        return 2
    # How LibTorch's OpenMP threads wait is read when it loads: choose here unless the
    # environment chose (the binary would otherwise restart itself to do so; tsrt/openmp.h).
    if not os.environ.keys() & OPENMP_WAIT_VARIABLES:
        os.environ[OPENMP_WAIT_DEFAULT[0]] = OPENMP_WAIT_DEFAULT[1]
    os.execv(binary, [binary, *sys.argv[1:]])
    return 2  # not reached: execv replaces the process


if __name__ == "__main__":
    sys.exit(main())
