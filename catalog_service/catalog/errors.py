"""Errors the catalog's services raise, each with a stable machine-readable ``code``."""

from __future__ import annotations


class CatalogError(Exception):
    """A rule of the catalog was broken; ``code`` is what clients and tests match on."""

    code = "CATALOG_ERROR"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class FlashSaleInvalid(CatalogError):
    code = "FLASH_SALE_INVALID"
