#!/usr/bin/env bash
# `make test`: the whole suite against a throwaway PostGIS that is removed afterwards, in the
# test environment (the app's own default is production; tests/conftest.py sets it too).
set -euo pipefail
cd "$(dirname "$0")/.."
LAGESBILD_ENV=test exec scripts/with-throwaway-db.sh throwaway .venv/bin/python -m pytest "$@"
