"""The one error scripts/deploy-web reports: a message for a person, then exit 2."""

from __future__ import annotations


class DeployError(Exception):
    """Bad input or an AWS answer that stops the deploy; raised before any upload
    whenever the problem can be seen in advance."""
