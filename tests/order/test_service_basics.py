"""The order service as a Django project (the checks every service passes)."""

from shared.testing.service_basics import *  # noqa: F403
