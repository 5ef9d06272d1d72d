"""The parity tolerance a model's file is verified with, fitted to the model.

A deep network computed in float32 differs from the same network in exact
arithmetic, and freezing (BatchNorm folded into convolutions) or another kernel
changes the rounding again: a fixed 1e-5 refuses a correct ResNet-50. The error
PyTorch itself makes is measurable: eager float32 against eager float64 on the same
inputs. The default tolerance is that noise times NOISE_FACTOR, never below the
floor; an explicit `tolerance=` wins.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

from tsrt.contract import flatten_outputs
from tsrt.spec import Tolerance

#: How far above PyTorch's own float32 noise a correct file may land: freezing and
#: other kernels reorder the same sums, which costs a few times that noise, not more.
NOISE_FACTOR = 10.0
#: The tolerance of models whose noise is tiny (shallow, or integer outputs).
FLOOR = Tolerance()


def _round_up(value: float) -> float:
    """Two significant digits, rounded up: 4.31e-05 -> 4.4e-05."""
    exponent = math.floor(math.log10(value)) - 1
    return math.ceil(value / 10 ** exponent) * 10 ** exponent


def _as_double(value: Any) -> Any:
    return value.double() if isinstance(value, torch.Tensor) and value.dtype == torch.float32 else value


def float32_noise(module: torch.nn.Module, call: Callable[[torch.nn.Module, tuple], Any],
                  inputs: Sequence[tuple]) -> float | None:
    """max |float32 - float64| over the float outputs of `module` on `inputs`; None when
    the module cannot run in float64 (parameters of other float dtypes, ops without a
    double kernel). The module is converted in place and back: no copy of its weights."""
    floats = [t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()]
    if not floats or any(t.dtype != torch.float32 for t in floats):
        return None
    noise = 0.0
    try:
        with torch.no_grad():
            single = [flatten_outputs(call(module, args)) for args in inputs]
            module.double()
            for args, expected in zip(inputs, single):
                exact = flatten_outputs(call(module, tuple(_as_double(a) for a in args)))
                for (_, a), (_, e) in zip(expected, exact):
                    if isinstance(a, torch.Tensor) and a.is_floating_point() and isinstance(e, torch.Tensor):
                        difference = (a.double() - e.double()).abs()
                        difference = difference[torch.isfinite(difference)]
                        if difference.numel():
                            noise = max(noise, float(difference.max()))
    except Exception:  # noqa: BLE001 - any op that refuses float64 means: not measurable
        return None
    finally:
        module.float()
    return noise


def fit_tolerance(module: torch.nn.Module, call: Callable[[torch.nn.Module, tuple], Any],
                  inputs: Sequence[tuple]) -> tuple[Tolerance, dict[str, Any]]:
    """The tolerance for `module` and how it was found (recorded in the file and
    printed in the report)."""
    noise = float32_noise(module, call, inputs)
    if noise is None:
        return FLOOR, {"atol": FLOOR.atol, "rtol": FLOOR.rtol,
                       "source": "default (the model's float32 noise could not be measured in float64)"}
    atol = max(FLOOR.atol, _round_up(NOISE_FACTOR * noise) if noise > 0 else 0.0)
    tolerance = Tolerance(atol=atol, rtol=FLOOR.rtol)
    return tolerance, {"atol": tolerance.atol, "rtol": tolerance.rtol, "noise": noise, "factor": NOISE_FACTOR,
                       "source": f"measured: float32 noise {noise:.2g} (eager float32 vs float64) x {NOISE_FACTOR:g}, "
                                 f"floor {FLOOR.atol:g}"}
