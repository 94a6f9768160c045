# Two commands on a fresh machine:
#   make run    set up, start the project's own PostGIS, migrate, load demo data, serve on :8000
#   make test   same set-up, full test suite against a throwaway PostGIS
PORT ?= 8000
PGPORT ?= 54329
PYTHON ?= python3
VENV := .venv
NODE_STAMP := frontend/node_modules/.installed
export PORT PGPORT

.PHONY: run test deps bench seed clean-db api-key
run: deps
	@scripts/run.sh

test: deps
	@scripts/test.sh $(ARGS)

deps: $(VENV)/.installed $(NODE_STAMP)
	@scripts/os-deps.sh

$(VENV)/.installed: pyproject.toml
	@scripts/os-deps.sh
	@test -x $(VENV)/bin/pip || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	@echo "installing Python dependencies into $(VENV) (log: $(VENV)/install.log)"
	@{ $(VENV)/bin/pip install --upgrade pip && $(VENV)/bin/pip install -e '.[test]'; } > $(VENV)/install.log 2>&1 \
		|| { tail -n 30 $(VENV)/install.log; exit 1; }
	@touch $@

# Leaflet for the situation map, from the npm registry at set-up time (served from /static, no CDN).
$(NODE_STAMP): frontend/package-lock.json
	@scripts/os-deps.sh
	@echo "installing frontend packages into frontend/node_modules (log: frontend/npm-install.log)"
	@cd frontend && npm ci --ignore-scripts --no-audit --no-fund > npm-install.log 2>&1 \
		|| { tail -n 30 npm-install.log; exit 1; }
	@touch $@

# make bench BENCH=hotspots (or intake, tiles, events, feed-insert, feed-checks, browser, quality, follow-up, photos, exports; default all) — see scripts/bench.sh
BENCH ?= all
bench: deps
	@scripts/bench.sh $(BENCH)

# Add synthetic reports to the `make run` database: make seed REPORTS=1000000
REPORTS ?= 100000
seed: deps
	@scripts/with-db.sh .venv/bin/python -m seeds --reports $(REPORTS)

# A reading key for QGIS/GDAL/FME (sent as X-API-Key; acts with that user's role): make api-key FOR=gis DAYS=365
FOR ?= gis
DAYS ?= 365
api-key: deps
	@scripts/with-db.sh .venv/bin/python -m app.manage api-key --user $(FOR) --days $(DAYS)

# Remove the local demo database that `make run` keeps between runs.
clean-db:
	@scripts/localpg.sh destroy "$$(scripts/statedir.sh)"
