#!/usr/bin/env bash
# Run a command with DATABASE_URL pointing at the `make run` database (started if needed,
# stopped again afterwards if this script started it). `$DATABASE_URL` wins when set.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DATABASE_URL:-}" ]; then
    state=$(scripts/statedir.sh)
    mkdir -p "$(dirname "$state")"
    if ! scripts/localpg.sh running "$state"; then
        trap 'scripts/localpg.sh stop "$state"; echo "PostgreSQL stopped; data kept in $state"' EXIT
    fi
    DATABASE_URL=$(scripts/localpg.sh start "$state" "${PGPORT:-54329}" durable)
    export DATABASE_URL
    echo "PostGIS: $state (port ${PGPORT:-54329})"
fi
export LAGESBILD_ENV=${LAGESBILD_ENV:-demo}
.venv/bin/python -m app.manage migrate
"$@"
