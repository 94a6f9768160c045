"""python -m seeds [--reports N] [--seed S] [--days D]

Loads the demo municipality (once) and N synthetic reports over the last D days.
Demo mode only (LAGESBILD_ENV=dev/demo/test)."""
from __future__ import annotations

import argparse
import sys

from seeds.loader import seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seeds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=0, help="number of synthetic reports to add (default 0)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--days", type=int, default=364, help="spread over the last D days (default 364 = 26 cycles)")
    args = parser.parse_args(argv)
    if args.reports < 0 or args.days < 1:
        parser.error("--reports must be >= 0 and --days >= 1")
    try:
        rate = seed(args.reports, seed=args.seed, days=args.days)
    except RuntimeError as exc:
        print(f"seeds: {exc}", file=sys.stderr)
        return 1
    if args.reports:
        print(f"loaded {args.reports} reports at {rate:,.0f} reports/s "
              "(end to end: generation, H3 cells, COPY, indexes and foreign keys, commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
