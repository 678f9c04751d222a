# SCO Pavilion production image: gunicorn as a non-root user, health-checked.
# Migrations are a separate, explicit step:
#   docker run --rm -e DATABASE_URL=... -e SECRET_KEY=... -e PAVILION_ID_ENCRYPTION_KEY=... IMAGE flask --app wsgi db upgrade
# compose.yaml runs the whole shape (web, worker, beat, migrate, PostgreSQL, Redis) from it.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md wsgi.py ./
COPY shop ./shop
COPY catalog ./catalog
COPY orders ./orders
COPY warehouse ./warehouse
# Wheels for the project and every dependency, so the runtime stage needs no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PAVILION_ENV=production \
    PAVILION_VAR_DIR=/app/var \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=4 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/pavilion-metrics
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin pavilion
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
RUN mkdir -p /app/var && chown pavilion:pavilion /app/var
USER pavilion
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"
# exec: gunicorn is PID 1 and receives the container's SIGTERM for a graceful stop.
CMD ["sh", "-c", "exec gunicorn --bind ${HOST}:${PORT} --workers ${WEB_CONCURRENCY} --access-logfile - --config python:shop.gunicorn_conf --forwarded-allow-ips \"${FORWARDED_ALLOW_IPS:-127.0.0.1}\" wsgi:app"]
