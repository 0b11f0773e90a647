# One slim image for every Chimera agent, the one-shot `migrate` job and the CLI.
#   docker build -t chimera:latest .     (docker compose builds it for you)
# Two stages on the same base. `builder` installs uv (pinned, from PyPI) and the locked
# dependencies (uv.lock, hashes checked) into /opt/venv before any code is copied, so a change to
# the code rebuilds only the last layers; then the project itself. The runtime stage gets the
# venv and the code, and no uv, no build tools, no caches.
# Runs as the unprivileged user `chimera` (uid 10001); ffmpeg, espeak-ng and a TrueType font
# are the media skills' system dependencies. State and media live under /data (a volume in
# docker-compose.yml, shared by generate and publish).
FROM python:3.11-slim AS builder

# Build-time settings only (ARG, not ENV: none of them belongs in the image).
ARG PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

WORKDIR /app
# Dependencies first, no project yet: these layers are reused until pyproject.toml or uv.lock
# change. uv is the version pyproject.toml requires ([tool.uv] required-version), as in setup.sh.
COPY pyproject.toml uv.lock ./
RUN pip install "uv==$(sed -n 's/^required-version = "==\(.*\)"$/\1/p' pyproject.toml)" \
 && uv sync --locked --no-install-project

COPY README.md alembic.ini ./
COPY core ./core
COPY chimera ./chimera
COPY agents ./agents
COPY events ./events
COPY skills ./skills
COPY migrations ./migrations
COPY bench ./bench
COPY stack ./stack
# The project alone (its dependencies are all in the venv), editable: the code stays in /app,
# where `chimera migrate` finds alembic.ini and migrations/.
RUN uv sync --locked


FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin chimera \
 && mkdir -p /data/media /data/publish \
 && chown -R chimera:chimera /data

# The venv's interpreter is the image's own /usr/local/bin/python3.11 (same base image).
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
# `chimera` and `python` (the compose health checks) are the venv's.
ENV PATH=/opt/venv/bin:$PATH

USER chimera
ENV CHIMERA_STATE_DIR=/data \
    CHIMERA_MEDIA_DIR=/data/media \
    CHIMERA_PUBLISH_DIR=/data/publish
ENTRYPOINT ["chimera"]
CMD ["--help"]
