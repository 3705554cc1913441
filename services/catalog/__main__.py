from mesh.service import serve
from services.catalog import app

serve(app.SERVICE, app.open_store, app.build_unit)
