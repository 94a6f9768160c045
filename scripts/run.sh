#!/usr/bin/env bash
# `make run`: the project's own PostGIS (or $DATABASE_URL), migrations, demo data once, then the API.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-8000}
if ! .venv/bin/python -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$port" 2>/dev/null; then
    echo "make run: port $port is already in use (another 'make run'?). Stop it, or use: make run PORT=8080" >&2
    exit 1
fi
exec scripts/with-db.sh scripts/serve.sh "$port"
