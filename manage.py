#!/usr/bin/env python
"""One manage.py for the three services.

    python manage.py {catalog|order|fulfillment} <django command> [options]

``DJANGO_ENV`` (local, production, test) picks the settings module; local is the default.
"""

import os
import sys

SERVICES = {
    "catalog": "catalog_service",
    "order": "order_service",
    "fulfillment": "fulfillment_service",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in SERVICES:
        names = "|".join(SERVICES)
        sys.exit(
            f"usage: python manage.py {{{names}}} <command> [options]\n"
            f"example: python manage.py catalog migrate"
        )
    service = sys.argv[1]
    from shared.settings import settings_module

    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module(SERVICES[service])
    from django.core.management import execute_from_command_line

    execute_from_command_line([f"manage.py {service}", *sys.argv[2:]])


if __name__ == "__main__":
    main()
