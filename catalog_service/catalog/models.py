"""Catalog tables: the system of record for what is sold, at which price, and when on sale.

Stock is not here: fulfillment owns it and Redis holds availability (shared.inventory).
Rules that need more than one row (a sale price below the regular price, flash sales of one
product never overlapping) live in services.py, which locks the product row to check them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Category(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    slug = models.SlugField(max_length=160, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Image URLs in display order, and free-form attributes (colour, size, ...).
    images = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    is_active = models.BooleanField(default=True, help_text="Shown in the storefront and sold.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["category", "id"], name="product_category_id")]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="product_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Review(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    author_name = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The review loader reads the newest reviews of a page of products.
            models.Index(fields=["product", "-created_at", "-id"], name="review_product_newest"),
            # The admin's list, newest first over every product (5M rows at 100x: ADR 0102).
            models.Index(fields=["-created_at", "-id"], name="review_newest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1) & Q(rating__lte=5), name="review_rating_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 {self.title}"


class FlashSale(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="flash_sales")
    sale_price = models.DecimalField(max_digits=10, decimal_places=2)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    per_shopper_limit = models.PositiveIntegerField(
        default=0, help_text="Units one shopper may buy during the sale; 0 means no limit."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [
            models.Index(fields=["product", "starts_at", "ends_at"], name="flashsale_window"),
            models.Index(fields=["starts_at", "ends_at"], name="flashsale_active"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="flashsale_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(sale_price__gt=0), name="flashsale_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} at {self.sale_price} ({self.starts_at:%Y-%m-%d %H:%M})"

    def is_active_at(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at
