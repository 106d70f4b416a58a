"""URLs of the internal API, mounted under /internal/."""

from django.urls import path

from fulfillment_service.internal_api import views

urlpatterns = [path("orders/<str:order_id>", views.order_detail, name="internal-order-detail")]
