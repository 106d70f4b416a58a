"""Catalog service URLs: the storefront's pages (/, /products/<slug>, /cart, /orders/<id>,
/waiting-room/<slug>, /account, /account/signin, /account/signup), GraphQL at /graphql,
admin under /admin/catalog/, health, readiness and metrics."""

from django.contrib import admin
from django.urls import include, path, re_path

from catalog_service.graphql.views import CatalogGraphQLView
from catalog_service.storefront import views as storefront

admin.site.site_header = "Flash-sale · catalog"
admin.site.site_title = "catalog admin"

urlpatterns = [
    path("", storefront.storefront, name="storefront"),
    path("products/<slug:slug>", storefront.product_page, name="storefront-product"),
    path("cart", storefront.cart_page, name="storefront-cart"),
    path("orders/<uuid:order_id>", storefront.order_page, name="storefront-order"),
    # the room slugs the edge routes under /queue/ (deploy/nginx: [a-z0-9-]+)
    re_path(
        r"^waiting-room/(?P<slug>[a-z0-9-]{1,64})$",
        storefront.waiting_room_page,
        name="storefront-waiting-room",
    ),
    path("account", storefront.account_page, name="storefront-account"),
    path("account/signin", storefront.account_signin_page, name="storefront-signin"),
    path("account/signup", storefront.account_signup_page, name="storefront-signup"),
    path("graphql", CatalogGraphQLView.as_view(), name="graphql"),
    path("admin/catalog/", admin.site.urls),
    path("", include("shared.urls")),
]
