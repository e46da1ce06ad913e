# The dashboard as an image: daphne serving HTTP and websockets on :8000.
# Bookworm pinned: the stack pages are written against its docker-compose (v1.29) and docker CLI (20.10).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data STATIC_ROOT=/app/staticfiles
WORKDIR /app
# The stack pages run the compose CLI (docker-compose) and, for swarm stacks, `docker stack` (the docker
# CLI, which Debian ships only inside docker.io; its daemon is never started here). Build with
# --build-arg STACK_TOOLS= for an image without them: the stack pages then say that none is found.
ARG STACK_TOOLS="docker-compose docker.io"
RUN if [ -n "$STACK_TOOLS" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends $STACK_TOOLS \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --no-input --verbosity 0 \
    && useradd --system --uid 10001 --home /data dashboard && mkdir -p /data && chown dashboard /data
# The socket's group must be given to this user at run time (compose: group_add with the socket's gid).
USER dashboard
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["sh", "-c", "python manage.py migrate --no-input && python manage.py bootstrap && exec daphne -b 0.0.0.0 -p 8000 dashboard.asgi:application"]
