"""Orders: priced from the catalog, backed by inventory reservations."""
