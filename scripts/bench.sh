#!/usr/bin/env bash
# `make bench`: both benchmarks against a throwaway but durable (fsync on) PostGIS.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /var/tmp/lagesbild-bench.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'scripts/localpg.sh destroy "$dir"' EXIT
export DATABASE_URL; DATABASE_URL=$(scripts/localpg.sh start "$dir" "$port" durable)
export LAGESBILD_ENV=demo
.venv/bin/python -m app.manage migrate
.venv/bin/python -m seeds --reports 0
.venv/bin/python bench/post_load.py "$@"
.venv/bin/python bench/bulk_load.py --reports 1000000 --runs 3
