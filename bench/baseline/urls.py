"""The monolith's URLs: the same public paths as the platform's edge."""

from django.urls import path

from bench.baseline import views

urlpatterns = [
    path("graphql", views.graphql_view),
    path("api/cart", views.cart_view),
    path("api/cart/items", views.cart_items_view),
    path("api/orders", views.orders_view),
    path("api/orders/<uuid:order_id>", views.order_view),
    path("healthz", views.healthz),
]
