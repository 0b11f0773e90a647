# One slim image for every Chimera agent, the one-shot `migrate` job and the CLI.
#   docker build -t chimera:latest .     (docker compose builds it for you)
# Runs as the unprivileged user `chimera` (uid 10001); ffmpeg, espeak-ng and a TrueType font
# are the media skills' system dependencies. State and media live under /data (a volume in
# docker-compose.yml, shared by generate and publish).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin chimera

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY core ./core
COPY chimera ./chimera
COPY agents ./agents
COPY events ./events
COPY skills ./skills
COPY migrations ./migrations
COPY bench ./bench
COPY stack ./stack
# Editable: the code stays in /app, where `chimera migrate` finds alembic.ini and migrations/.
RUN pip install -e . \
 && mkdir -p /data/media /data/publish \
 && chown -R chimera:chimera /data

USER chimera
ENV CHIMERA_STATE_DIR=/data \
    CHIMERA_MEDIA_DIR=/data/media \
    CHIMERA_PUBLISH_DIR=/data/publish
ENTRYPOINT ["chimera"]
CMD ["--help"]
