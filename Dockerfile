# reinforce on PostgreSQL: migrate, then serve.
#   docker build -t reinforce .
#   docker run -e REINFORCE_ENVIRONMENT=production -e REINFORCE_TOKEN_SECRET=... \
#     -e REINFORCE_DATABASE_URL=postgresql+asyncpg://user:pass@db/reinforce -p 8000:8000 reinforce
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/reinforce
RUN useradd --system --uid 10001 --home-dir /srv/reinforce reinforce

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# Editable, so that `reinforce migrate` finds alembic.ini and migrations/ beside the code.
RUN pip install -e . && mkdir -p var && chown reinforce var

USER reinforce
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "reinforce migrate && exec reinforce serve --host 0.0.0.0 --port 8000 --workers ${WEB_CONCURRENCY:-2}"]
