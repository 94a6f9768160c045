#!/usr/bin/env bash
# Install the operating-system packages the project needs when they are missing:
# PostgreSQL with PostGIS (for the installed PostgreSQL major, or 15 on Debian 12),
# python3-venv, and GDAL's command-line clients (the tests read our OGC API with them).
# Runs apt-get as root, through sudo otherwise; does nothing when all is present.
set -euo pipefail

need=()
major=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$major" ] || { major=15; need+=("postgresql-$major"); }
ls /usr/share/postgresql/"$major"/extension/postgis.control >/dev/null 2>&1 || need+=("postgresql-$major-postgis-3")
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)

[ ${#need[@]} -eq 0 ] && exit 0

echo "os-deps: installing ${need[*]}" >&2
sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "os-deps: please install as root: apt-get install ${need[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
