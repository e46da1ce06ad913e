# The dashboard as an image: daphne serving HTTP and websockets on :8000.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data STATIC_ROOT=/app/staticfiles
WORKDIR /app
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
