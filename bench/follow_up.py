"""Calibration and power of the follow-up traffic light on synthetic counts with known truth.

    .venv/bin/python bench/follow_up.py [--runs 20000] [--seed 7]

Counts per area and window are Poisson: the place with mean ``lt`` before and ``lt × effect``
after, the control with mean ``lc`` before and after (no town-wide trend). For each scenario:

* ``test`` — share of runs with ``p_decrease < 0.05`` from :func:`app.actions.effect.conditional_test`
  (Fisher's exact test); under no effect (``effect = 1``) this is the false-green rate, target ≤ 5 %.
* ``green`` — share of runs the light (:func:`app.actions.effect.propose_light`, carried out, no
  ring) proposes green: the test plus the rule that fewer than 5 reports cannot be told.
* ``old`` — the test before the review (exact binomial with the control's split taken as
  known), for comparison.

The ring as control has a few reports per window (3–10 over three cycles around a small place),
the whole municipality thousands. No database; a run of the defaults takes about a minute.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.actions import effect  # noqa: E402
from app.hotspots.stats import binomial_lower_p  # noqa: E402
from bench.machine import describe  # noqa: E402

SCENARIOS = [  # label, place mean per window, control mean per window, effect (after / before)
    ("ring, ~3 reports per window", 4, 3, 1.0),
    ("ring, ~6", 6, 6, 1.0),
    ("ring, ~10", 10, 10, 1.0),
    ("whole municipality", 4, 2000, 1.0),
    ("whole municipality", 10, 2000, 1.0),
    ("whole municipality, halved", 10, 2000, 0.5),
    ("ring ~10, halved", 10, 10, 0.5),
]


# green does not depend on the ratio (only weak_reduction does), and its exact interval is the slow part
NO_RATIO = effect.RateRatio(None, None, None, None)


def old_p_decrease(t0: int, t1: int, c0: int, c1: int) -> float:
    """The pre-review test: t1 ~ Binomial(t0 + t1, c1 / (c0 + c1)), the control's split as known."""
    n, c = t0 + t1, c0 + c1
    return 1.0 if n <= 0 or c <= 0 else float(binomial_lower_p(t1, n, c1 / c))


def run(lt: float, lc: float, ratio: float, runs: int, rng: np.random.Generator) -> tuple[float, float, float]:
    t0, t1 = rng.poisson(lt, runs), rng.poisson(lt * ratio, runs)
    c0, c1 = rng.poisson(lc, runs), rng.poisson(lc, runs)
    test = green = old = 0
    for i in range(runs):
        counts = (int(t0[i]), int(t1[i]), int(c0[i]), int(c1[i]))
        target = effect.conditional_test(*counts)
        light = effect.propose_light(carried_out=True, target=target, ratio=NO_RATIO, displacement=None)
        test += target.p_decrease < 0.05
        green += light.light == "green"
        old += old_p_decrease(*counts) < 0.05
    return test / runs, green / runs, old / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {describe()}; {args.runs} runs per scenario, seed {args.seed}")
    print(f"{'scenario':32s} {'place':>5s} {'control':>7s} {'effect':>6s} {'test':>6s} {'green':>6s} {'old':>6s}")
    for k, (label, lt, lc, ratio) in enumerate(SCENARIOS):
        test, green, old = run(lt, lc, ratio, args.runs, np.random.default_rng([args.seed, k]))
        print(f"{label:32s} {lt:5g} {lc:7g} {ratio:6g} {test:6.3f} {green:6.3f} {old:6.3f}")


if __name__ == "__main__":
    main()
