"""Demo data for the storefront: categories, products for shared.demo's skus (each with
two small SVG pictures drawn into MEDIA_ROOT), tens of reviews each, an active flash sale on
the first skus, then the offers.

Bulk inserts keep 2000 products and ~50 000 reviews well under a minute. Re-running adds
only what is missing (products by sku, reviews for products without any, a sale where none
is running or planned), so it is safe to run on every `bin/platform up`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from shared.demo import FLASH_SALE_SKUS, demo_skus

from . import services
from .models import Category, FlashSale, Product, Review

CATEGORIES = [
    "Audio",
    "Cameras",
    "Computers",
    "Gaming",
    "Home",
    "Kitchen",
    "Outdoor",
    "Phones",
    "Sports",
    "Toys",
    "Watches",
    "Wearables",
]
_ADJECTIVES = ["Compact", "Deluxe", "Eco", "Ultra", "Smart", "Classic", "Pro", "Mini", "Max"]
_NOUNS = {
    "Audio": ["Headphones", "Speaker", "Soundbar", "Earbuds"],
    "Cameras": ["Camera", "Lens", "Tripod", "Action Cam"],
    "Computers": ["Laptop", "Monitor", "Keyboard", "Mouse"],
    "Gaming": ["Controller", "Headset", "Console", "Chair"],
    "Home": ["Lamp", "Vacuum", "Air Purifier", "Thermostat"],
    "Kitchen": ["Blender", "Kettle", "Coffee Maker", "Toaster"],
    "Outdoor": ["Tent", "Backpack", "Lantern", "Sleeping Bag"],
    "Phones": ["Phone", "Charger", "Case", "Power Bank"],
    "Sports": ["Bike Light", "Yoga Mat", "Dumbbell Set", "Runner Shoes"],
    "Toys": ["Robot Kit", "Puzzle", "Drone", "Building Set"],
    "Watches": ["Watch", "Strap", "Chronograph", "Dive Watch"],
    "Wearables": ["Fitness Band", "Smart Ring", "Tracker", "Smart Glasses"],
}
_COLOURS = ["black", "white", "red", "blue", "green", "silver"]
_REVIEW_TITLES = {
    1: ["Broke in a week", "Not as described", "Disappointed"],
    2: ["Meh", "Could be better", "Average at best"],
    3: ["Does the job", "Okay for the price", "Fine"],
    4: ["Very good", "Happy with it", "Solid buy"],
    5: ["Excellent!", "Love it", "Best purchase this year"],
}
_AUTHORS = ["Ada", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jon"]
SALE_HOURS = 24
SALE_PER_SHOPPER_LIMIT = 2


@dataclass
class SeedSummary:
    categories_created: int = 0
    products_created: int = 0
    reviews_created: int = 0
    flash_sales_created: int = 0
    offers_published: int = 0
    products_total: int = 0
    images_written: int = 0


IMAGES_PER_PRODUCT = 2
_SWATCH = {
    "black": "#2b2b2b",
    "white": "#f2f2f2",
    "red": "#c62828",
    "blue": "#1e5aa8",
    "green": "#2e7d32",
    "silver": "#9ea7ad",
}
_BACKDROPS = ["#fde7c8", "#d8eefe", "#e6f4d8", "#f3dcf2"]


def demo_image_paths(sku: str) -> list[str]:
    """Where a demo product's pictures live, relative to MEDIA_ROOT (and MEDIA_URL)."""
    return [f"products/{sku}-{n}.svg" for n in range(1, IMAGES_PER_PRODUCT + 1)]


def demo_image_svg(*, name: str, colour: str, view: int) -> str:
    """A small picture of a demo product: its colour as a shape on a backdrop (~0.5 KB).
    Pictures carry no text: the page gives each one its alt text."""
    fill = _SWATCH.get(colour, "#777777")
    backdrop = _BACKDROPS[(len(name) + view) % len(_BACKDROPS)]
    shape = (
        f'<rect x="95" y="55" width="130" height="130" rx="22" fill="{fill}"/>'
        if view == 1
        else f'<circle cx="160" cy="120" r="70" fill="{fill}"/>'
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
        f'<rect width="320" height="240" fill="{backdrop}"/>'
        '<ellipse cx="160" cy="205" rx="90" ry="12" fill="#00000022"/>'
        f'{shape}<circle cx="130" cy="95" r="12" fill="#ffffff66"/></svg>\n'
    )


def demo_images_write(*, products: list[Product], root: Path) -> int:
    """Draw the pictures of demo products that have none on disk; returns how many."""
    written = 0
    for product in products:
        colour = str(product.attributes.get("colour", ""))
        for view, relative in enumerate(demo_image_paths(product.sku), start=1):
            path = root / relative
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(demo_image_svg(name=product.name, colour=colour, view=view))
            written += 1
    return written


def _image_urls(sku: str) -> list[str]:
    return [f"{settings.MEDIA_URL}{relative}" for relative in demo_image_paths(sku)]


def _product_for(index: int, sku: str, categories: list[Category]) -> Product:
    rng = random.Random(index)
    category = categories[index % len(categories)]
    name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS[category.name])} {index}"
    price = Decimal(rng.randrange(999, 99999)) / 100
    return Product(
        sku=sku,
        slug=slugify(f"{name}-{sku}"),
        name=name,
        description=f"The {name.lower()}: a demo product of the {category.name} range.",
        images=_image_urls(sku),
        attributes={"colour": rng.choice(_COLOURS), "warranty_years": rng.choice([1, 2, 3])},
        price=price,
        currency="EUR",
        category=category,
    )


def _reviews_for(product: Product, low: int, high: int, now) -> list[Review]:
    rng = random.Random(f"reviews-{product.sku}")
    reviews = []
    for n in range(rng.randint(low, high)):
        rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 3, 6, 8])[0]
        reviews.append(
            Review(
                product=product,
                rating=rating,
                title=rng.choice(_REVIEW_TITLES[rating]),
                body=f"Review {n + 1} of {product.name}: {rating} out of 5.",
                author_name=rng.choice(_AUTHORS),
                created_at=now - timedelta(minutes=rng.randrange(1, 180 * 24 * 60)),
            )
        )
    return reviews


def demo_seed(
    *,
    products: int,
    reviews_min: int = 10,
    reviews_max: int = 40,
    progress: Callable[[str], None] = lambda _msg: None,
) -> SeedSummary:
    summary = SeedSummary()
    now = timezone.now()

    with transaction.atomic():
        existing = set(Category.objects.values_list("name", flat=True))
        missing = [Category(name=n, slug=slugify(n)) for n in CATEGORIES if n not in existing]
        Category.objects.bulk_create(missing)
        summary.categories_created = len(missing)
    by_name = {c.name: c for c in Category.objects.filter(name__in=CATEGORIES)}
    categories = [by_name[n] for n in CATEGORIES]
    progress(f"categories: {len(categories)} ({summary.categories_created} new)")

    skus = demo_skus(products)
    have = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
    todo = [(i, sku) for i, sku in enumerate(skus, start=1) if sku not in have]
    for start in range(0, len(todo), 500):
        chunk = todo[start : start + 500]
        Product.objects.bulk_create([_product_for(i, sku, categories) for i, sku in chunk])
        summary.products_created += len(chunk)
        progress(f"products: {summary.products_created}/{len(todo)} new")
    if not todo:
        progress(f"products: all {len(skus)} already there")

    bare = list(Product.objects.filter(sku__in=skus, reviews__isnull=True).order_by("id"))
    batch: list[Review] = []
    for n, product in enumerate(bare, start=1):
        batch.extend(_reviews_for(product, reviews_min, reviews_max, now))
        if len(batch) >= 5000 or n == len(bare):
            Review.objects.bulk_create(batch, batch_size=5000)
            summary.reviews_created += len(batch)
            batch = []
            progress(f"reviews: {summary.reviews_created} for {n}/{len(bare)} products")

    sale_skus = skus[:FLASH_SALE_SKUS]
    planned = set(
        FlashSale.objects.filter(product__sku__in=sale_skus, ends_at__gt=now).values_list(
            "product__sku", flat=True
        )
    )
    sales = [
        FlashSale(
            product=product,
            sale_price=(product.price / 2).quantize(Decimal("0.01")),
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=SALE_HOURS),
            per_shopper_limit=SALE_PER_SHOPPER_LIMIT,
        )
        for product in Product.objects.filter(sku__in=sale_skus).order_by("id")
        if product.sku not in planned
    ]
    FlashSale.objects.bulk_create(sales)
    summary.flash_sales_created = len(sales)
    progress(
        f"flash sales: {len(sales)} new, {len(planned)} already running or planned "
        f"(first {len(sale_skus)} skus, {SALE_HOURS} h, {SALE_PER_SHOPPER_LIMIT} per shopper)"
    )

    # Pictures: local files (earlier seeds pointed at a host that does not exist), drawn
    # where missing, so a re-run after the static tree was wiped draws them again.
    stale = [
        p
        for p in Product.objects.filter(sku__in=skus).only("id", "sku", "images")
        if p.images != _image_urls(p.sku)
    ]
    for product in stale:
        product.images = _image_urls(product.sku)
    Product.objects.bulk_update(stale, ["images"], batch_size=500)
    summary.images_written = demo_images_write(
        products=list(Product.objects.filter(sku__in=skus).only("sku", "name", "attributes")),
        root=Path(settings.MEDIA_ROOT),
    )
    progress(
        f"images: {summary.images_written} drawn in {settings.MEDIA_ROOT}"
        + (f", {len(stale)} products pointed at them" if stale else "")
    )

    if summary.products_created or summary.reviews_created:
        # Fresh bulk rows have no planner statistics until autovacuum comes by; without them
        # PostgreSQL scans every review for a page of 20 products.
        with connection.cursor() as cursor:
            for model in (Category, Product, Review, FlashSale):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        progress("planner statistics refreshed (ANALYZE)")

    ids = list(Product.objects.filter(sku__in=skus).values_list("id", flat=True))
    summary.offers_published = services.offer_publish_many(product_ids=ids)
    summary.products_total = len(ids)
    progress(f"offers: {summary.offers_published} published")
    return summary
