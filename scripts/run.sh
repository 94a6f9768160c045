#!/usr/bin/env bash
# `make run`: the project's own PostGIS (or $DATABASE_URL), migrations, demo data once, then the API.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DATABASE_URL:-}" ]; then
    state=$(scripts/statedir.sh)
    mkdir -p "$(dirname "$state")"
    DATABASE_URL=$(scripts/localpg.sh start "$state" "${PGPORT:-54329}" durable)
    export DATABASE_URL
    trap 'scripts/localpg.sh stop "$state"; echo "PostgreSQL stopped; data kept in $state"' EXIT
    echo "PostGIS: $state (port ${PGPORT:-54329})"
fi
export LAGESBILD_ENV=${LAGESBILD_ENV:-demo}
.venv/bin/python -m app.manage prepare --demo
.venv/bin/python -m app.manage banner --port "${PORT:-8000}"
.venv/bin/python -m uvicorn app.main:app --host 127.0.0.1 --port "${PORT:-8000}" --proxy-headers --no-server-header --log-level info || true
