# syntax=docker/dockerfile:1
# One image for every mesh process; the command picks the process:
#   python -m services.catalog | services.inventory | services.orders | gateway
# Build and push with scripts/push-image (see docs/deploy.md).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: generate the gRPC stubs and build the wheel ------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# Dependencies and the codegen extra first, so this layer is reused until
# pyproject.toml changes (hatchling skips the package folders not copied yet).
COPY pyproject.toml README.md services.yaml ./
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install ".[codegen]"

# Stubs are generated here, never committed.
COPY protos ./protos
COPY scripts/codegen.py ./scripts/codegen.py
RUN /opt/build/bin/python scripts/codegen.py

COPY mesh ./mesh
COPY services ./services
COPY gateway ./gateway
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/*.whl \
 && /opt/venv/bin/python -c "import mesh.topology, shop"

# --- runtime: the installed venv and services.yaml, nothing else --------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MESH_SERVICES_FILE=/app/services.yaml \
    MESH_HOST=0.0.0.0

# A fixed numeric user: the ECS task definition runs as 10001:10001 too.
RUN groupadd --system --gid 10001 mesh \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin mesh

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY services.yaml ./services.yaml

USER 10001:10001
# ECS passes the service's command; this default runs the REST gateway.
CMD ["python", "-m", "gateway"]
