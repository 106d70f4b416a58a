"""Routes of the order API under /api/ (an index at /api/, the OpenAPI schema at
/api/schema/, Swagger UI at /api/docs/, Redoc at /api/redoc/)."""

from django.urls import path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from order_service.api import account_views, views

app_name = "api"

urlpatterns = [
    path("", views.api_index, name="index"),
    path("cart", views.CartView.as_view(), name="cart"),
    path("cart/items", views.CartItemsView.as_view(), name="cart-items"),
    path("cart/items/<str:sku>", views.CartItemView.as_view(), name="cart-item"),
    path("orders", views.CheckoutView.as_view(), name="orders"),
    path("orders/<str:order_id>", views.OrderDetailView.as_view(), name="order-detail"),
    path("account", account_views.AccountView.as_view(), name="account"),
    path("account/signup", account_views.SignupView.as_view(), name="account-signup"),
    path("account/signin", account_views.SigninView.as_view(), name="account-signin"),
    path("account/signout", account_views.SignoutView.as_view(), name="account-signout"),
    path("account/orders", account_views.AccountOrdersView.as_view(), name="account-orders"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"),
        name="redoc",
    ),
]
