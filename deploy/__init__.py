"""Deployment tools that run from a checkout, beside the Terraform configuration.

Not part of the image: nothing in ``mesh``, ``services`` or ``gateway`` imports them.
"""
