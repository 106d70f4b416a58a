"""The monolith's tables: catalog, stock, orders, payments and the ledger in one database."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Category(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    slug = models.SlugField(max_length=160, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    images = models.JSONField(default=list)
    attributes = models.JSONField(default=dict)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    is_active = models.BooleanField(default=True)


class Review(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    author_name = models.CharField(max_length=80)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["product", "-created_at", "-id"], name="mono_review_new")]


class FlashSale(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="flash_sales")
    sale_price = models.DecimalField(max_digits=10, decimal_places=2)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    per_shopper_limit = models.PositiveIntegerField(default=0)


class Stock(models.Model):
    sku = models.CharField(max_length=64, primary_key=True)
    on_hand = models.BigIntegerField()
    received = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="mono_on_hand_not_negative")
        ]


class PersistedQuery(models.Model):
    """Apollo persisted queries: in the database, as the monolith has no cache."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    query = models.TextField()


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shopper_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16)  # accepted -> paid | failed
    failure_reason = models.TextField(blank=True, default="")
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64, db_index=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)


class IdempotencyKey(models.Model):
    shopper_id = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    order = models.ForeignKey(Order, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shopper_id", "key"], name="mono_idempotency_once")
        ]


class Payment(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE)
    status = models.CharField(max_length=16)  # approved | declined
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reference = models.CharField(max_length=40)


class LedgerEntry(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="ledger")
    account = models.CharField(max_length=32)
    debit = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    credit = models.DecimalField(max_digits=12, decimal_places=2, default=0)
