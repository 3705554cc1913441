from mesh.migrations_env import run
from services.inventory.models import metadata

run(metadata)
