"""Staff manage the catalog here. Saves and deletes go through services.py, so an edit in
the admin republishes the product's offer exactly like any other write.

Flash sales have sale controls (ADR 0066): start now, end now, extend by N minutes, as
admin actions that call the services; times are shown in the server's time zone, named."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import render
from django.utils import timezone

from shared.adminlists import LargeTableAdmin, RecentValuesListFilter

from . import services
from .errors import CatalogError
from .models import Category, FlashSale, Product, Review


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "product_count", "updated_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        # A correlated count per listed category (index product_category_id) instead of a
        # join and GROUP BY over every product, which the paginator's count repeated:
        # 0.3-0.8 s at 200k products (ADR 0102).
        per_category = (
            Product.objects.filter(category=OuterRef("pk"))
            .order_by()
            .values("category")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(_products=Coalesce(Subquery(per_category), 0))

    @admin.display(ordering="_products", description="products")
    def product_count(self, obj):
        return obj._products

    def save_model(self, request, obj, form, change):
        services.category_save(category=obj)


@admin.register(Product)
class ProductAdmin(LargeTableAdmin):
    list_display = ["sku", "name", "category", "price", "currency", "is_active", "updated_at"]
    list_filter = ["is_active", "category", ("currency", RecentValuesListFilter)]
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
class ReviewAdmin(LargeTableAdmin):
    list_display = ["product", "rating", "title", "author_name", "created_at"]
    list_filter = [("rating", RecentValuesListFilter), "created_at"]
    search_fields = ["title", "author_name", "product__sku", "product__name"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    # No date_hierarchy: its DISTINCT over every review's month costs 0.8 s at 5M reviews;
    # the created_at filter sends no query (ADR 0102).

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
        assert data is not None  # ModelForm.clean returns cleaned_data
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


def _zone() -> str:
    return timezone.get_current_timezone_name()


def _at(moment) -> str:
    """A time as staff read it: local to the server's zone, with the zone named."""
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S} {_zone()}"


class ExtendForm(forms.Form):
    minutes = forms.IntegerField(
        min_value=1,
        max_value=services.SALE_EXTEND_MAX_MINUTES,
        initial=30,
        help_text="Minutes added to each selected sale's end.",
    )


@admin.register(FlashSale)
class FlashSaleAdmin(admin.ModelAdmin):
    form = FlashSaleForm
    list_display = [
        "product",
        "sale_price",
        "regular_price",
        "starts",
        "ends",
        "per_shopper_limit",
        "running",
    ]
    list_filter = [FlashSaleStatusFilter, "starts_at"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    actions = ["start_now", "end_now", "extend"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "subtitle": f"Times in {_zone()} (server time zone); now {_at(timezone.now())}",
        }
        return super().changelist_view(request, extra_context=extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "subtitle": f"Times in {_zone()}"}
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(ordering="starts_at", description="starts")
    def starts(self, obj):
        return _at(obj.starts_at)

    @admin.display(ordering="ends_at", description="ends")
    def ends(self, obj):
        return _at(obj.ends_at)

    def _control(self, request, queryset, change, verb: str) -> None:
        """Apply one sale control to each selected sale; report each result."""
        for sale in queryset.select_related("product"):
            try:
                done = change(sale)
            except CatalogError as exc:
                self.message_user(
                    request, f"{sale.product.sku}: {exc.message} ({exc.code})", messages.ERROR
                )
                continue
            self.message_user(
                request,
                f"{sale.product.sku}: {verb}; runs {_at(done.starts_at)} to {_at(done.ends_at)}",
                messages.SUCCESS,
            )

    @admin.action(description="Start the selected sales now", permissions=["change"])
    def start_now(self, request, queryset):
        self._control(
            request, queryset, lambda s: services.flash_sale_start_now(flash_sale=s), "started"
        )

    @admin.action(description="End the selected sales now", permissions=["change"])
    def end_now(self, request, queryset):
        self._control(
            request, queryset, lambda s: services.flash_sale_end_now(flash_sale=s), "ended"
        )

    @admin.action(description="Extend the selected sales by N minutes", permissions=["change"])
    def extend(self, request, queryset):
        form = ExtendForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            minutes = form.cleaned_data["minutes"]
            self._control(
                request,
                queryset,
                lambda s: services.flash_sale_extend(flash_sale=s, minutes=minutes),
                f"extended by {minutes} min",
            )
            return None
        return render(
            request,
            "admin/catalog/flashsale/extend.html",
            {
                **self.admin_site.each_context(request),
                "title": "Extend flash sales",
                "subtitle": f"Times in {_zone()}",
                "zone": _zone(),
                "form": form,
                "sales": list(queryset.select_related("product")),
                "action": "extend",
                "opts": self.model._meta,
            },
        )

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
