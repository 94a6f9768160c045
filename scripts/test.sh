#!/usr/bin/env bash
# `make test`: the whole suite against a throwaway PostGIS that is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /var/tmp/lagesbild-test.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'scripts/localpg.sh destroy "$dir"' EXIT
export DATABASE_URL; DATABASE_URL=$(scripts/localpg.sh start "$dir" "$port" throwaway)
export LAGESBILD_ENV=test
echo "throwaway PostGIS on 127.0.0.1:$port ($dir)"
.venv/bin/python -m pytest "$@"
