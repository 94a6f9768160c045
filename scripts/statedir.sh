#!/usr/bin/env bash
# Where `make run` keeps its PostgreSQL cluster: under the project when we are not root,
# otherwise in /var/lib/lagesbild/<checkout> (the postgres user cannot reach /root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" = 0 ]; then
    echo "/var/lib/lagesbild/$(basename "$top")-$(printf %s "$top" | sha1sum | cut -c1-8)"
else
    echo "$top/.local/pg"
fi
