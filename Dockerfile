# syntax=docker/dockerfile:1
# Build stage: resolve the locked dependencies into a virtualenv.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps .

# Runtime stage: only the virtualenv, the system libraries it needs, a non-root user.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 ffmpeg tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 zapgate \
 && mkdir -p /data && chown zapgate:zapgate /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ZAPGATE_DATA_DIR=/data \
    ZAPGATE_HOST=0.0.0.0 \
    ZAPGATE_PORT=8000 \
    ZAPGATE_LOG_FORMAT=json
USER zapgate
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
# tini forwards SIGTERM so uvicorn shuts down gracefully (sessions stopped, queue kept).
ENTRYPOINT ["tini", "--"]
CMD ["zapgate", "serve"]
