"""Demo data that two services must agree on without importing each other: the skus.

The catalog's ``seed_demo`` creates products for these skus; fulfillment's creates their
stock. Both derive them from here, deterministically.
"""

DEMO_PRODUCT_COUNT = 2000
FLASH_SALE_SKUS = 20  # the first skus are on flash sale in the demo


def demo_sku(index: int) -> str:
    return f"SKU-{index:06d}"


def demo_skus(count: int = DEMO_PRODUCT_COUNT) -> list[str]:
    return [demo_sku(i) for i in range(1, count + 1)]


def demo_stock(index: int) -> int:
    """Units received for the demo sku number ``index`` (flash-sale skus are scarce)."""
    if index <= FLASH_SALE_SKUS:
        return 100
    return 20 + (index * 37) % 480
