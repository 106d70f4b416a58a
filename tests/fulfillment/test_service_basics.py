"""The fulfillment service as a Django project (the checks every service passes)."""

from tests.support.service_basics import *  # noqa: F403
