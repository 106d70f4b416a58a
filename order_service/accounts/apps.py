from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "order_service.accounts"
    label = "accounts"
    verbose_name = "Shopper accounts"
