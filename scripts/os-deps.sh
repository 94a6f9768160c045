#!/usr/bin/env bash
# Install the operating-system packages the project needs when they are missing:
# PostgreSQL with PostGIS (for the installed PostgreSQL major), python3-venv, Node.js with npm
# (Leaflet comes from the npm registry, never from a CDN), Chromium (the browser tests drive
# the distribution's own build headless) and gdal-bin (the tests read our OGC API with GDAL's
# own client, as QGIS does), Pango for WeasyPrint and poppler-utils.
# Runs apt-get as root, through sudo otherwise; does nothing when all is present.
set -euo pipefail

sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
updated=
install() {
    echo "os-deps: installing $*" >&2
    if [ ${#sudo[@]} -gt 0 ] && ! command -v sudo >/dev/null; then
        echo "os-deps: please install as root: apt-get install $*" >&2; exit 1
    fi
    [ -n "$updated" ] || { "${sudo[@]}" apt-get update -qq; updated=1; }
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

python3 -c 'import ensurepip' >/dev/null 2>&1 || install python3-venv
command -v npm >/dev/null || install nodejs npm
command -v chromium >/dev/null || install chromium
command -v ogrinfo >/dev/null || install gdal-bin
# WeasyPrint (the meeting report PDF) needs Pango and HarfBuzz's subsetter, and a font;
# poppler-utils renders the PDF to PNG in the tests.
# (grep reads the whole list: with -q it would stop at the first match, ldconfig would die of
# SIGPIPE, and pipefail would call the library missing and reinstall it on every run.)
# ldconfig is in /usr/sbin, which a normal user's PATH on Debian lacks.
have_lib() { PATH="$PATH:/usr/sbin:/sbin" ldconfig -p 2>/dev/null | grep -F "$1" >/dev/null; }
have_lib libpangoft2-1.0.so.0 && have_lib libharfbuzz-subset.so.0 && [ -d /usr/share/fonts/truetype/dejavu ] \
    || install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
command -v pdftoppm >/dev/null || install poppler-utils
# The distribution's own PostgreSQL first (15 on Debian 12, 16 on Ubuntu 24.04, ...), then
# PostGIS for whichever major is installed.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || install postgresql
major=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
ls /usr/share/postgresql/"$major"/extension/postgis.control >/dev/null 2>&1 || install "postgresql-$major-postgis-3"
