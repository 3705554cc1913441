"""The runtime every service and the gateway import.

Modules, each doing one thing:

- ``mesh.topology``  the service list (``services.yaml``): names, ports, dependencies
- ``mesh.config``    typed settings read once from ``MESH_*`` environment variables
- ``mesh.errors``    the one error model and its mapping to ``google.rpc.Status``
- ``mesh.server``    serve a servicer: health, reflection, interceptors, graceful shutdown
- ``mesh.clients``   channels to other services by name
- ``mesh.db``        SQLAlchemy engines and Alembic migrations per service
- ``mesh.probe``     the container health check command
"""
