# hitl: a small image that runs `hitl serve` as a non-root user.
#   docker build -t hitl .
#   docker run --env-file .env -v "$PWD/rules.yml:/app/rules.yml:ro" -p 127.0.0.1:3000:3000 hitl

# Build stage: install hitl and its dependencies into a virtualenv, without build tools in
# the final image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/hitl
WORKDIR /src
COPY pyproject.toml README.md rules.example.yml ./
COPY bot bot
COPY digest digest
COPY handlers handlers
COPY rules rules
COPY storage storage
RUN /opt/hitl/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/hitl/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HITL_HOST=0.0.0.0 \
    HITL_PORT=3000 \
    HITL_DATABASE_URL=sqlite:////data/hitl.db \
    HITL_RULES=/app/rules.yml
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home hitl \
    && mkdir -p /app /data && chown hitl:hitl /app /data
COPY --from=build /opt/hitl /opt/hitl
WORKDIR /app
USER hitl
VOLUME ["/data"]
EXPOSE 3000
# /healthz answers 200 while the database answers and the background loops keep running.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HITL_PORT', '3000'), timeout=4)"]
# SIGTERM (docker stop) stops hitl cleanly: in-flight work is finished or handed back.
STOPSIGNAL SIGTERM
CMD ["hitl", "serve"]
