from django.apps import AppConfig


class WaitingRoomConfig(AppConfig):
    name = "order_service.waitingroom"
    label = "waitingroom"
    verbose_name = "Waiting rooms"
