#!/usr/bin/env bash
# `make bench`: both benchmarks against a throwaway but durable (fsync on) PostGIS.
set -euo pipefail
cd "$(dirname "$0")/.."
export LAGESBILD_ENV=demo
exec scripts/with-throwaway-db.sh durable sh -c '
    .venv/bin/python -m app.manage migrate &&
    .venv/bin/python -m seeds --reports 0 &&
    .venv/bin/python bench/post_load.py "$@" &&
    .venv/bin/python bench/bulk_load.py --reports 1000000 --runs 3' bench "$@"
