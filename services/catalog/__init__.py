"""The product catalog service."""
