# One image for every Chimera agent (and the one-shot migrate job).
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 chimera

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY chimera ./chimera
COPY agents ./agents
COPY events ./events
COPY skills ./skills
COPY migrations ./migrations
COPY bench ./bench
COPY stack ./stack
RUN pip install --no-cache-dir . \
 && mkdir -p /data/media /data/publish && chown -R chimera /data

USER chimera
ENV CHIMERA_STATE_DIR=/data CHIMERA_MEDIA_DIR=/data/media CHIMERA_PUBLISH_DIR=/data/publish \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["chimera"]
CMD ["--help"]
