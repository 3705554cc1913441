from mesh.service import main, migrations_dir
from services.inventory import app

main(app.SERVICE, app.build_unit, migrations_dir(app.__file__))
