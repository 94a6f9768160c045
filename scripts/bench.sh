#!/usr/bin/env bash
# `make bench [BENCH=intake|hotspots|tiles|events|feed-insert|feed-checks|browser|quality|follow-up|photos|exports|all]` against a throwaway but durable (fsync on) PostGIS:
#   intake    POST latency under 50 clients, the 1,000,000-report bulk load (3 runs), POST latency again at that size
#   hotspots  the hotspot layer with 1,050,000 reports vs the analyst's ST_HexagonGrid count
#   tiles     vector tiles over the municipality per zoom (same data), over HTTP and the SQL alone
#   events    the rescue-service feed: 10,000-event batches over HTTP (fresh, replay, update, CSV)
#   feed-insert  what inserting one feed batch into report costs, by schema variant (not in all)
#   feed-checks  the feed's foreign keys checked once per batch vs per row, over HTTP, interleaved (not in all)
#   quality   PAI vs the oracle and calibration on synthetic data (no database needed)
#   follow-up the follow-up light's false greens and power on synthetic counts (no database needed; not in all)
#   photos    peak memory of decoding one uploaded photo, before and after bounded decoding (no database needed; not in all)
#   browser   dashboard and report form in headless Chromium with 1,000,000 reports (Slow 4G for the form)
#   exports   1,000,000 reports as CSV, GeoJSON and GeoPackage through the server: time and peak memory
set -euo pipefail
cd "$(dirname "$0")/.."
export LAGESBILD_ENV=demo
which=${1:-all}
case "$which" in
    quality) exec .venv/bin/python bench/quality.py ;;
    follow-up) exec .venv/bin/python bench/follow_up.py ;;
    photos) exec .venv/bin/python bench/photo_memory.py --runs 3 ;;
    intake|hotspots|browser|tiles|exports|events|feed-insert|feed-checks|all) ;;
    *) echo "bench: unknown benchmark '$which' (intake, hotspots, tiles, events, feed-insert, feed-checks, browser, quality, follow-up, photos, exports, all)" >&2; exit 2 ;;
esac
scripts/with-throwaway-db.sh durable sh -c '
    .venv/bin/python -m app.manage migrate &&
    .venv/bin/python -m seeds --reports 0 &&
    case "$1" in
        intake)   .venv/bin/python bench/post_load.py && .venv/bin/python bench/bulk_load.py --reports 1000000 --runs 3 &&
                  echo "POST again, with the bulk loads in the database:" && .venv/bin/python bench/post_load.py ;;
        hotspots) .venv/bin/python bench/hotspots.py ;;
        tiles)    .venv/bin/python bench/tiles.py ;;
        browser)  .venv/bin/python bench/browser.py ;;
        exports)  .venv/bin/python bench/exports.py --naive ;;
        events)   .venv/bin/python bench/events.py ;;
        feed-insert) .venv/bin/python bench/feed_insert.py ;;
        feed-checks) .venv/bin/python bench/feed_checks.py ;;
        all)      .venv/bin/python bench/post_load.py && .venv/bin/python bench/bulk_load.py --reports 1000000 --runs 3 &&
                  echo "POST again, with the bulk loads in the database:" && .venv/bin/python bench/post_load.py &&
                  .venv/bin/python bench/hotspots.py && .venv/bin/python bench/tiles.py && .venv/bin/python bench/browser.py &&
                  .venv/bin/python bench/exports.py && .venv/bin/python bench/events.py ;;
    esac' bench "$which"
[ "$which" != all ] || .venv/bin/python bench/quality.py
