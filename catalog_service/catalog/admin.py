"""Staff manage the catalog here. Saves and deletes go through services.py, so an edit in
the admin republishes the product's offer exactly like any other write."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.utils import timezone

from . import services
from .errors import CatalogError
from .models import Category, FlashSale, Product, Review


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "product_count", "updated_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_products=Count("products"))

    @admin.display(ordering="_products", description="products")
    def product_count(self, obj):
        return obj._products

    def save_model(self, request, obj, form, change):
        services.category_save(category=obj)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "currency", "is_active", "updated_at"]
    list_filter = ["is_active", "category", "currency"]
    search_fields = ["sku", "name", "slug"]
    list_select_related = ["category"]
    list_per_page = 50
    readonly_fields = ["created_at", "updated_at"]
    actions = ["republish_offers"]

    def save_model(self, request, obj, form, change):
        services.product_save(product=obj)

    def delete_model(self, request, obj):
        services.product_delete(product=obj)

    def delete_queryset(self, request, queryset):
        for product in queryset:
            services.product_delete(product=product)

    @admin.action(description="Republish the offers of the selected products")
    def republish_offers(self, request, queryset):
        count = services.offer_publish_many(product_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"Republished {count} offer(s).", messages.SUCCESS)


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["product", "rating", "title", "author_name", "created_at"]
    list_filter = ["rating", "created_at"]
    search_fields = ["title", "author_name", "product__sku", "product__name"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    date_hierarchy = "created_at"

    def save_model(self, request, obj, form, change):
        services.review_save(review=obj)


class FlashSaleStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("running", "running now"), ("upcoming", "upcoming"), ("ended", "ended")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "running":
            return queryset.filter(starts_at__lte=now, ends_at__gt=now)
        if self.value() == "upcoming":
            return queryset.filter(starts_at__gt=now)
        if self.value() == "ended":
            return queryset.filter(ends_at__lte=now)
        return queryset


class FlashSaleForm(forms.ModelForm):
    class Meta:
        model = FlashSale
        fields = ["product", "sale_price", "starts_at", "ends_at", "per_shopper_limit"]

    def clean(self):
        data = super().clean()
        product = data.get("product")
        if product is not None:
            try:
                services.flash_sale_validate(
                    product=product,
                    sale_price=data.get("sale_price"),
                    starts_at=data.get("starts_at"),
                    ends_at=data.get("ends_at"),
                    exclude_id=self.instance.pk,
                )
            except CatalogError as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from None
        return data


@admin.register(FlashSale)
class FlashSaleAdmin(admin.ModelAdmin):
    form = FlashSaleForm
    list_display = [
        "product",
        "sale_price",
        "regular_price",
        "starts_at",
        "ends_at",
        "per_shopper_limit",
        "running",
    ]
    list_filter = [FlashSaleStatusFilter, "starts_at"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]

    @admin.display(description="regular price")
    def regular_price(self, obj):
        return obj.product.price

    @admin.display(boolean=True, description="running now")
    def running(self, obj):
        return obj.is_active_at(timezone.now())

    def save_model(self, request, obj, form, change):
        services.flash_sale_save(flash_sale=obj)

    def delete_model(self, request, obj):
        services.flash_sale_delete(flash_sale=obj)

    def delete_queryset(self, request, queryset):
        for sale in queryset:
            services.flash_sale_delete(flash_sale=sale)
