# Coursebase: the read API over a content repository, served by granian.
#   docker build -t coursebase .
#   docker run -p 8000:8000 -v "$PWD":/srv/site coursebase
# The mounted folder must be a git repository with the content in content/.
# Several replicas on one Postgres: docker-compose.yml (command `coursebase-replica`, deploy/replica.sh).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cms ./cms
COPY api ./api
RUN pip install .

# The example content, so the image serves something on its own.
COPY content /srv/site/content
RUN git config --global --add safe.directory '*' \
    && cd /srv/site \
    && git init --quiet \
    && git -c user.name=Coursebase -c user.email=cms@localhost add --all \
    && git -c user.name=Coursebase -c user.email=cms@localhost commit --quiet --message "Example content"

# docker-compose.yml: each replica clones the content remote into its own volume at /srv/clone.
COPY deploy/replica.sh /usr/local/bin/coursebase-replica
RUN useradd --create-home --uid 10001 cms && mkdir -p /srv/clone && chown -R cms /srv/site /srv/clone
USER cms
WORKDIR /srv/site
ENV CMS_CONTENT_DIR=/srv/site/content

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health')"
CMD ["cms", "serve", "--host", "0.0.0.0", "--port", "8000", "--watch"]
