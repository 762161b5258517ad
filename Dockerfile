# One image for every clickpipe role; the command picks the role:
#   docker run IMAGE producer --host 0.0.0.0     the redirect service (port 8000)
#   docker run IMAGE worker --web-host 0.0.0.0   the stream worker (HTTP API on port 6066)
#   docker run IMAGE topics --bootstrap-servers kafka:9092
# Configuration: CLICKPIPE_PRODUCER_* / CLICKPIPE_WORKER_* environment variables (see README.md).

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: install the project and its dependencies into /opt/clickpipe ----------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# A C compiler: setup.py compiles the worker's hot modules with mypyc (without one they run interpreted).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY schemas ./schemas
COPY producer ./producer
COPY stream_app ./stream_app
COPY clickpipe ./clickpipe
# Installed into a virtual environment of its own, which the runtime stage copies whole: a plain COPY, so the
# classic builder (plain `docker build`, no BuildKit) builds this file as BuildKit does.
RUN python -m venv /opt/clickpipe && /opt/clickpipe/bin/pip install .

# ---- runtime: the installed package only (non-editable), no sources, no build tools ---------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/clickpipe/bin:$PATH

COPY --from=build /opt/clickpipe /opt/clickpipe

# Non-root user; /data holds the worker's table state (RocksDB). A named volume mounted on /data takes this
# ownership when it is first created.
RUN groupadd --system --gid 10001 clickpipe \
    && useradd --system --uid 10001 --gid clickpipe --home-dir /app --no-create-home clickpipe \
    && mkdir -p /app /data \
    && chown clickpipe:clickpipe /app /data
WORKDIR /app
USER clickpipe:clickpipe

# producer HTTP, worker HTTP API
EXPOSE 8000 6066

ENTRYPOINT ["clickpipe"]
CMD ["--help"]
