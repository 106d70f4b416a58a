"""``/queue/``: the waiting room's API (views.py)."""

from django.urls import path, re_path

from order_service.waitingroom import views

app_name = "waitingroom"

SLUG = r"(?P<slug>[a-z0-9-]{1,64})"

urlpatterns = [
    path("rooms", views.rooms_view, name="rooms"),
    re_path(rf"^{SLUG}/status$", views.status_view, name="status"),
    re_path(rf"^{SLUG}/join$", views.join_view, name="join"),
    re_path(rf"^{SLUG}/pass$", views.pass_view, name="pass"),
]
