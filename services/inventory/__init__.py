"""Stock per sku and all-or-nothing reservations."""
