#!/usr/bin/env bash
# `make run`: the project's own PostGIS (or $DATABASE_URL), migrations, demo data once, then the API.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-8000}
if ! .venv/bin/python -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$port" 2>/dev/null; then
    echo "make run: port $port is already in use (another 'make run'?). Stop it, or use: make run PORT=8080" >&2
    exit 1
fi
if [ -z "${DATABASE_URL:-}" ]; then
    state=$(scripts/statedir.sh)
    mkdir -p "$(dirname "$state")"
    # Stop the database on exit only if this run started it.
    if ! scripts/localpg.sh running "$state"; then
        trap 'scripts/localpg.sh stop "$state"; echo "PostgreSQL stopped; data kept in $state"' EXIT
    fi
    DATABASE_URL=$(scripts/localpg.sh start "$state" "${PGPORT:-54329}" durable)
    export DATABASE_URL
    echo "PostGIS: $state (port ${PGPORT:-54329})"
fi
export LAGESBILD_ENV=${LAGESBILD_ENV:-demo}
.venv/bin/python -m app.manage prepare --demo
.venv/bin/python -m app.manage banner --port "$port"
# In the background so that INT/TERM/HUP reach the server and the EXIT trap still runs.
.venv/bin/python -m uvicorn app.main:app --host 127.0.0.1 --port "$port" --no-server-header --no-access-log --log-level info &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' INT TERM HUP
wait $server || wait $server || true
