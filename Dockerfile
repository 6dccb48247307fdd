# paper-digest daemon.  Build: docker build -t paper-digest .
# Run:  docker run -d --name digest -v ./config:/config:ro -p 127.0.0.1:8080:8080 paper-digest
# (reads /config/docker.yaml; keeps its SQLite database and generated signing key in the /data volume)
#
# Python 3.11, as CI tests it. Two stages: the first builds a venv holding the dependencies and the
# project's wheel; the second is the slim base plus that venv, two small scripts and a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/build && /opt/build/bin/pip install --quiet "hatchling>=1.25" \
 && python -m venv /opt/digest
WORKDIR /src
# The dependencies first, from pyproject.toml alone: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > /tmp/requirements.txt \
 && /opt/digest/bin/pip install --quiet --requirement /tmp/requirements.txt
COPY README.md ./
COPY templates ./templates
COPY digest ./digest
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/digest/bin/pip install --quiet --no-deps /dist/*.whl \
 && /opt/digest/bin/pip uninstall --quiet --yes pip setuptools \
 && find /opt/digest/lib -depth -type d -name tests -exec rm -rf {} + \
 && /opt/digest/bin/digest --help >/dev/null

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin digest \
 && mkdir -p /config /data && chown digest:digest /data
COPY --from=build /opt/digest /opt/digest
COPY docker/entrypoint.sh docker/healthcheck.py /opt/digest/container/
ENV PATH=/opt/digest/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER digest
WORKDIR /data
VOLUME ["/config", "/data"]
EXPOSE 8080
# GET /healthz on the daemon.http_port of the config the daemon runs with (unhealthy, saying why,
# when the config leaves http_port off).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "/opt/digest/container/healthcheck.py"]
# `run` checks its config first (exit 2 with the usual message); any other digest command runs as is.
ENTRYPOINT ["/opt/digest/container/entrypoint.sh"]
CMD ["run", "-c", "/config/docker.yaml", "--log-json"]
