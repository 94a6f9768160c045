#!/usr/bin/env bash
# Run a command against a throwaway PostGIS that is removed afterwards:
#   scripts/with-throwaway-db.sh throwaway|durable COMMAND...   (durable keeps fsync on, for benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=$1; shift
dir=$(mktemp -d /var/tmp/lagesbild-$mode.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'scripts/localpg.sh destroy "$dir"' EXIT
export DATABASE_URL; DATABASE_URL=$(scripts/localpg.sh start "$dir" "$port" "$mode")
echo "throwaway PostGIS on 127.0.0.1:$port ($dir, $mode)"
"$@"
