from mesh.migrations_env import run
from services.orders.models import metadata

run(metadata)
