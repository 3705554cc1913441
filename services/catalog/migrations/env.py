from mesh.migrations_env import run
from services.catalog.models import metadata

run(metadata)
