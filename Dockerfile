# Lägesbild API for servers. The database is a separate PostGIS (see docker-compose.yml).

# Leaflet and Swagger UI from the npm registry (pinned by frontend/package-lock.json); only what is served is kept.
FROM node:20-bookworm-slim AS leaflet
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm

# production (also what an unset LAGESBILD_ENV means): the container refuses to start without
# LAGESBILD_SECRET_KEY (32+ random characters), and refuses the demo data, password and key.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LAGESBILD_ENV=production LAGESBILD_ATTACHMENT_DIR=/var/lib/lagesbild/attachments \
    MALLOC_ARENA_MAX=2

# Pango, HarfBuzz's subsetter and a font for WeasyPrint (the meeting report and lägesbild PDFs),
# the same packages scripts/os-deps.sh installs for `make run`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app --shell /usr/sbin/nologin lagesbild

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY seeds ./seeds
COPY migrations ./migrations
COPY alembic.ini ./
COPY frontend/pages ./frontend/pages
COPY frontend/static ./frontend/static
COPY --from=leaflet /frontend/node_modules/leaflet/dist ./frontend/node_modules/leaflet/dist
COPY --from=leaflet /frontend/node_modules/leaflet.markercluster/dist ./frontend/node_modules/leaflet.markercluster/dist
COPY --from=leaflet /frontend/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
     /frontend/node_modules/swagger-ui-dist/swagger-ui.css /frontend/node_modules/swagger-ui-dist/LICENSE \
     /frontend/node_modules/swagger-ui-dist/NOTICE ./frontend/node_modules/swagger-ui-dist/
RUN pip install . && mkdir -p /var/lib/lagesbild/attachments && chown -R lagesbild /var/lib/lagesbild

USER lagesbild
EXPOSE 8000
# Migrations run before the app starts; then two workers (set WEB_CONCURRENCY to change; rate
# limits are counted per worker). Behind a reverse proxy set FORWARDED_ALLOW_IPS to the proxy's
# address (docker-compose.yml does): uvicorn then takes the client's address from X-Forwarded-For;
# without it every client has the proxy's address and all share one rate-limit bucket.
CMD ["sh", "-c", "python -m app.manage migrate && exec uvicorn app.main:app --host 0.0.0.0 --port 8000 --proxy-headers --no-access-log --workers ${WEB_CONCURRENCY:-2}"]
