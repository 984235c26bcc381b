# One image for every Condividi process. Kubernetes picks the process with `command:`
# (see deploy/k8s/base/*.yaml); the default below starts the gateway.
#
#   docker build -t condividi:dev .
#
# Pin the base image by digest in CI (python:3.11-slim@sha256:...) so that rebuilds are reproducible.

FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The dependencies go into a virtual environment of their own, so that the runtime stage copies one
# directory and nothing that pip left behind. Every pin is checked against its hash. requirements.lock
# is the runtime alone: the local PostgreSQL and Kafka broker, the test and lint tools are in
# requirements-dev.lock, which only the developers' venv installs (tests/test_image.py).
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --no-deps --require-hashes -r /tmp/requirements.lock


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A numeric, unprivileged user: Kubernetes can only verify `runAsNonRoot` against a numeric UID.
RUN groupadd --system --gid 10001 condividi \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin condividi

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY condividi/ condividi/
COPY services/ services/
COPY gateway/ gateway/

# Compiled ahead of time: in Kubernetes the root filesystem is read-only, so Python could not write
# its bytecode cache at run time. The code stays owned by root and read-only to the process.
RUN python -m compileall -q condividi services gateway

USER 10001:10001
EXPOSE 8000 8001 8002 8003 8004

# X-Forwarded-For is believed only from the proxies in FORWARDED_ALLOW_IPS (uvicorn reads it; the
# deployment sets its ingress controller's range): by default, from none but localhost.
ENV FORWARDED_ALLOW_IPS=127.0.0.1,::1

# Exec form: uvicorn is PID 1 and receives SIGTERM itself, then drains within the graceful timeout.
# No uvicorn access log: the app writes one JSON access line per request itself.
CMD ["uvicorn", "gateway.main:app", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--no-access-log", "--timeout-graceful-shutdown", "20"]
