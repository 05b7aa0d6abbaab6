# syntax=docker/dockerfile:1
#
# sanctions-monitor container image.
#
#   docker build -t sanctions-monitor .
#   docker run --read-only --tmpfs /tmp -v monitor-state:/state -p 9464:9464 \
#     -e SLACK_WEBHOOK_URL sanctions-monitor
#
# Two stages: "build" installs the package and its dependencies into a virtualenv; the final
# stage copies only that virtualenv onto a fresh slim image (no compilers, no pip cache, no
# source tree). The final stage runs as a numeric non-root user under tini, keeps its state
# in the /state volume, and writes nothing else but /tmp, so it runs with a read-only root
# filesystem. No secret is baked in: Slack and webhook URLs come from the environment (or
# *_FILE secrets) at run time; see docs/operations.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a self-contained virtualenv in /opt/venv --------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# The pinned, hashed dependencies first (requirements.lock, from `make lock`): the image gets
# exactly the versions CI tested, and pip refuses any file whose hash differs. Then the
# package itself without resolving anything again; a change to the code does not throw away
# the dependency layer.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml setup.py README.md ./
COPY monitor ./monitor
COPY config ./config
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /src \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="sanctions-monitor" \
      org.opencontainers.image.description="Watches news feeds for DPRK sanctions breaches and Russia-DPRK transfers and alerts once per story." \
      org.opencontainers.image.source="https://github.com/sanctions-monitor/sanctions-monitor" \
      org.opencontainers.image.documentation="https://github.com/sanctions-monitor/sanctions-monitor/blob/main/docs/operations.md" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# tini reaps the parse worker processes and forwards SIGTERM to the monitor (PID 1 does not
# get default signal handlers). The numeric user owns nothing in the image but /state.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin monitor \
    && mkdir -p /state /etc/sanctions-monitor \
    && chown 10001:10001 /state \
    && chmod 0750 /state

COPY --from=build /opt/venv /opt/venv
COPY config/ /etc/sanctions-monitor/

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MONITOR_CONFIG=/etc/sanctions-monitor/monitor.yaml \
    MONITOR_STATE_PATH=/state/monitor.db \
    MONITOR_REVISION=${REVISION} \
    LOG_FORMAT=json \
    TMPDIR=/tmp

WORKDIR /state
VOLUME ["/state"]
EXPOSE 9464
USER 10001:10001

# Docker's default stop timeout is 10 s; the monitor drains within server.grace_s (8 s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["sanctions-monitor", "healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--", "sanctions-monitor"]
CMD ["run"]
