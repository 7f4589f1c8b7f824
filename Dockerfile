# trialsite: one image for the web server, the Celery worker and Celery beat (see docker-compose.yml).
# PostgreSQL and Redis come from outside: set DATABASE_URL, REDIS_URL, DJANGO_SECRET_KEY and EMAIL_URL
# (docs/security.md, "Production environment").
# DATABASE_URL is the application's role (owns nothing); only the release step that runs
# `python manage.py migrate` also gets DATABASE_OWNER_URL, the owning role (docs/operations.md and
# the `migrate` service of docker-compose.yml).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRIALSITE_DATA_DIR=/data \
    DJANGO_STATIC_ROOT=/app/staticfiles

RUN useradd --create-home --uid 10001 --user-group app \
    && mkdir -p /app /data/exports \
    && chown -R app:app /data

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code: .dockerignore keeps .venv/, .local/ (embedded database files), .git and artifacts out.
COPY . .

# Editable, so BASE_DIR stays /app (templates/, static/ and protocols/ are found there).
RUN pip install --no-deps -e . \
    && DJANGO_SECRET_KEY=build-only-not-secret \
       DATABASE_URL=postgres://build:build@localhost:5432/build \
       REDIS_URL=redis://localhost:6379/0 \
       EMAIL_URL=dummymail:// \
       python manage.py collectstatic --noinput --verbosity 0

USER app

EXPOSE 8000

CMD ["gunicorn", "trialsite.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "2", "--access-logfile", "-"]
