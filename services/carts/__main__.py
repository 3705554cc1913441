"""The carts service: ``python -m services.carts``."""
from mesh.service import serve
from services.carts import app

serve(app.SERVICE, app.open_store, app.build_unit)
