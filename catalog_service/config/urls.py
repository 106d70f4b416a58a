"""Catalog service URLs: the storefront's pages (/, /products/<slug>, /cart,
/orders/<id>), GraphQL at /graphql, admin under /admin/catalog/, health, readiness and
metrics."""

from django.contrib import admin
from django.urls import include, path

from catalog_service.graphql.views import CatalogGraphQLView
from catalog_service.storefront import views as storefront

admin.site.site_header = "Flash-sale · catalog"
admin.site.site_title = "catalog admin"

urlpatterns = [
    path("", storefront.storefront, name="storefront"),
    path("products/<slug:slug>", storefront.product_page, name="storefront-product"),
    path("cart", storefront.cart_page, name="storefront-cart"),
    path("orders/<uuid:order_id>", storefront.order_page, name="storefront-order"),
    path("graphql", CatalogGraphQLView.as_view(), name="graphql"),
    path("admin/catalog/", admin.site.urls),
    path("", include("shared.urls")),
]
