#!/usr/bin/env bash
# Run a command with DATABASE_URL pointing at the `make run` database (started if needed,
# stopped again afterwards if this script started it). `$DATABASE_URL` wins when set.
# Its own messages go to stderr, so that `KEY=$(make -s api-key)` captures only the command's output.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DATABASE_URL:-}" ]; then
    state=$(scripts/statedir.sh)
    mkdir -p "$(dirname "$state")"
    if ! scripts/localpg.sh running "$state"; then
        trap 'scripts/localpg.sh stop "$state"; echo "PostgreSQL stopped; data kept in $state" >&2' EXIT
    fi
    DATABASE_URL=$(scripts/localpg.sh start "$state" "${PGPORT:-54329}" durable)
    export DATABASE_URL
    # The port the server listens on: an already running cluster keeps the one it was started with.
    port=${DATABASE_URL##*@127.0.0.1:}
    echo "PostGIS: $state (port ${port%%/*})" >&2
fi
# The `make run` database is a demo (the app's own default is production, which wants a secret).
export LAGESBILD_ENV=${LAGESBILD_ENV:-demo}
.venv/bin/python -m app.manage migrate
"$@"
