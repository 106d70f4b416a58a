from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "order_service.orders"
    label = "orders"
    verbose_name = "Orders"
