#!/usr/bin/env bash
# Demo data once, the banner, then uvicorn on 127.0.0.1:$1 until INT/TERM/HUP (used by run.sh).
set -euo pipefail
port=$1
.venv/bin/python -m app.manage prepare --demo
.venv/bin/python -m app.manage banner --port "$port"
# In the background so that INT/TERM/HUP reach the server and the caller's EXIT trap still runs.
# two malloc arenas: threads do not each keep the memory a photo decode freed (docs/performance.md)
MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2} .venv/bin/python -m uvicorn app.main:app --host 127.0.0.1 --port "$port" --no-server-header --no-access-log --log-level info &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' INT TERM HUP
wait $server || wait $server || true
