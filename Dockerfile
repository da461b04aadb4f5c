# The service's image: the locked dependencies (exact versions, hashes checked), the app, a non-root user.
#   docker build -t inference-billing .
#   docker run -p 8000:8000 -e DATABASE_URL=postgresql+asyncpg://… -e OUTBOX_KEY=… inference-billing
# compose.yaml runs it as production would: two replicas behind a proxy, PostgreSQL, Redis, a mail catcher.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# every package pinned with its hashes: a changed or unpinned download fails the build
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements.lock

FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /srv --shell /usr/sbin/nologin billing \
    && mkdir -p /srv/var && chown billing:billing /srv/var
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
COPY alembic.ini plugins.toml pyproject.toml ./
COPY migrations ./migrations
COPY providers ./providers
COPY app ./app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json
USER billing
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# applies the migrations, then serves (uvicorn, one worker: run more containers for more)
CMD ["python", "-m", "app.cli", "serve", "--host", "0.0.0.0", "--port", "8000"]
