"""The carts service."""
