"""The waiting room (docs/waiting-room.md) in process, on the real Redis and PostgreSQL:
joining, the pre-queue shuffle, admission at the rate under the stock cap, the pass and
the guard on the buying paths."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from order_service.waitingroom import errors, selectors, services, state
from order_service.waitingroom.models import WaitingRoom
from order_service.waitingroom.passes import cookie_name, pass_sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_room(django_capture_on_commit_callbacks):
    """Create (and mirror) a room for this test's skus; returns a saver for changes too."""

    def make(skus, **fields):
        fields.setdefault("slug", f"t-{uuid.uuid4().hex[:10]}")
        fields.setdefault("title", "Test sale")
        fields.setdefault("state", "open")
        fields.setdefault("admission_rate", 1000)
        with django_capture_on_commit_callbacks(execute=True):
            return services.room_create(skus=list(skus), **fields)

    def save(room):
        with django_capture_on_commit_callbacks(execute=True):
            return services.room_save(room=room)

    make.save = save
    return make


def join(client, slug):
    return client.post(f"/queue/{slug}/join", {}, content_type="application/json")


def take_pass(client, slug):
    return client.post(f"/queue/{slug}/pass", {}, content_type="application/json")


def add(client, sku, quantity=1, **headers):
    return client.post(
        "/api/cart/items",
        {"sku": sku, "quantity": quantity},
        content_type="application/json",
        headers=headers,
    )


def checkout(client, **headers):
    return client.post(
        "/api/orders",
        {},
        content_type="application/json",
        headers={"Idempotency-Key": uuid.uuid4().hex, **headers},
    )


def test_join_pass_buy_and_leave_in_flight(client, sale, make_room):
    sku = sale.sku("A", stock=5)
    room = make_room([sku])
    r = join(client, room.slug)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["ticket"] == 1
    assert body["admitted"] is True
    assert body["position"] <= 0
    assert body["status_url"] == f"/queue/{room.slug}/status"
    assert r.cookies[cookie_name(room.slug)].value.startswith(f"v1.{room.slug}.1.")
    assert r.cookies[cookie_name(room.slug)]["httponly"]
    assert body["pass"] == r.cookies[cookie_name(room.slug)].value
    assert add(client, sku).status_code == 201
    assert selectors.room_status(slug=room.slug).in_flight == 1
    r = checkout(client)
    assert r.status_code == 202, r.content
    status = selectors.room_status(slug=room.slug)
    assert status.in_flight == 0
    assert status.units_left == 4
    assert state.client().hget(state.room_key(room.slug, "run"), "bought") == "1"


def test_buying_without_a_pass_is_queue_required(client, sale, make_room):
    sku = sale.sku("A", stock=5)
    other = sale.sku("B", stock=5)  # no room: unguarded
    room = make_room([sku])
    r = add(client, sku)
    assert r.status_code == 403
    assert r.json()["code"] == "QUEUE_REQUIRED"
    assert r.json()["detail"] == {
        "room": room.slug,
        "sku": sku,
        "queue_url": f"/waiting-room/{room.slug}",
    }
    assert add(client, other).status_code == 201
    # A cart line put there before the room: PATCH and checkout are guarded too.
    r = client.patch(f"/api/cart/items/{other}", {"quantity": 2}, content_type="application/json")
    assert r.status_code == 200
    r = client.post(
        "/api/orders",
        {"items": [{"sku": sku, "quantity": 1}]},
        content_type="application/json",
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (r.status_code, r.json()["code"]) == (403, "QUEUE_REQUIRED")
    assert sale.available(sku) == 5
    # Removing lines and reading the cart are never guarded.
    assert client.get("/api/cart").status_code == 200
    assert client.delete(f"/api/cart/items/{other}").status_code == 200


def _admitted(client, room):
    r = join(client, room.slug)
    assert r.json()["admitted"] is True, r.json()
    return r.cookies[cookie_name(room.slug)].value


def test_forged_expired_other_session_and_other_room_passes(client, sale, make_room):
    sku = sale.sku("A", stock=5)
    room = make_room([sku])
    room_b = make_room([sale.sku("B", stock=5)])
    token = _admitted(client, room)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value

    def refused(reason, **cookies):
        for name, value in cookies.items():
            client.cookies[name] = value
        r = add(client, sku)
        assert r.status_code == 403, r.content
        assert r.json()["code"] == "QUEUE_PASS_INVALID"
        assert r.json()["detail"]["reason"] == reason
        return r

    name = cookie_name(room.slug)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = refused("signature", **{name: forged})
    assert r.cookies[name].value == ""  # the bad cookie is deleted
    # A ticket or expiry changed by hand: the HMAC no longer matches.
    _v, slug, ticket, expires, mac = token.split(".")
    refused("signature", **{name: f"v1.{slug}.{ticket}.{int(expires) + 3600}.{mac}"})
    refused("malformed", **{name: "garbage"})
    expired = pass_sign(
        slug=room.slug, ticket=1, expires_at=int(time.time()) - 1, session_key=session_key
    )
    refused("expired", **{name: expired})
    # Another room's (valid) pass under this room's cookie name.
    other_client = Client()
    token_b = _admitted(other_client, room_b)
    token_b_here = pass_sign(
        slug=room_b.slug, ticket=1, expires_at=int(token_b.split(".")[3]), session_key=session_key
    )
    refused("other_room", **{name: token_b_here})
    # Another room's valid pass in its own cookie does not count for this room's sku.
    client.cookies[name] = ""
    del client.cookies[name]
    client.cookies[cookie_name(room_b.slug)] = token_b_here
    r = add(client, sku)
    assert (r.status_code, r.json()["code"]) == (403, "QUEUE_REQUIRED")
    # Copied into another session: refused, cookie or header.
    thief = Client()
    join(thief, room.slug)  # the thief has a session (and a place) of its own
    thief.cookies[name] = token
    r = add(thief, sku)
    assert (r.status_code, r.json()["code"]) == (403, "QUEUE_PASS_INVALID")
    api = Client()
    api.get("/api/cart")
    r = add(api, sku, **{"X-Queue-Pass": token})
    assert (r.status_code, r.json()["code"]) == (403, "QUEUE_PASS_INVALID")
    assert sale.available(sku) == 5
    # The genuine one, in its own session, as a cookie and as a header.
    del client.cookies[cookie_name(room_b.slug)]
    client.cookies[name] = token
    assert add(client, sku).status_code == 201
    del client.cookies[name]
    assert add(client, sku, **{"X-Queue-Pass": token}).status_code == 201
    # A stale pass on a safe request is dropped, not refused.
    client.cookies[name] = forged
    r = client.get("/api/cart")
    assert r.status_code == 200
    assert r.cookies[name].value == ""


def test_rejoin_keeps_the_place(sale, make_room):
    sku = sale.sku("A", stock=100)
    room = make_room([sku], state="paused")  # joining allowed, nobody admitted
    clients = [Client() for _ in range(3)]
    tickets = [join(c, room.slug).json()["ticket"] for c in clients]
    assert tickets == [1, 2, 3]
    again = join(clients[1], room.slug).json()
    assert again["ticket"] == 2
    assert again["position"] == 2
    assert again["admitted"] is False
    assert join(Client(), room.slug).json()["ticket"] == 4
    r = take_pass(clients[0], room.slug)
    assert (r.status_code, r.json()["code"]) == (409, "QUEUE_NOT_YET")
    assert r.json()["detail"]["position"] == 1
    assert selectors.room_status(slug=room.slug).queue_length == 4


def test_prequeue_is_shuffled_at_the_opening(sale, make_room):
    sku = sale.sku("A", stock=10_000)
    room = make_room([sku], opens_at=timezone.now() + timedelta(hours=1))
    holders = [f"anon:pre-{i:03d}" for i in range(200)]
    for holder in holders:
        joined = services.room_join(slug=room.slug, holder=holder)
        assert joined.ticket is None
        assert joined.status.state == "prequeue"
    # Joining again in the pre-queue changes nothing (one place, one score).
    services.room_join(slug=room.slug, holder=holders[0])
    status = selectors.room_status(slug=room.slug)
    assert (status.state, status.queue_length, status.last_ticket) == ("prequeue", 200, 0)
    room.opens_at = timezone.now() - timedelta(seconds=1)
    make_room.save(room)
    status = selectors.room_status(slug=room.slug)
    assert status.last_ticket == 200
    tickets = state.client().hgetall(state.room_key(room.slug, "holders"))
    order = [int(tickets[h]) for h in holders]
    assert sorted(order) == list(range(1, 201))
    assert order != list(range(1, 201))
    # Spearman's rank correlation of join order vs ticket: near 0 for a uniform shuffle
    # (|rho| > 0.3 has probability ~2e-5 with 200 members).
    n = len(order)
    rho = 1 - 6 * sum((i + 1 - t) ** 2 for i, t in enumerate(order)) / (n * (n * n - 1))
    assert abs(rho) < 0.3
    # After the opening, first come first served.
    assert services.room_join(slug=room.slug, holder="anon:late-1").ticket == 201
    assert services.room_join(slug=room.slug, holder="anon:late-2").ticket == 202


def test_admission_follows_the_rate(sale, make_room):
    sku = sale.sku("A", stock=10_000)
    room = make_room([sku], admission_rate=10, state="paused")
    for i in range(100):
        services.room_join(slug=room.slug, holder=f"anon:rate-{i}")
    room.state = "open"
    make_room.save(room)
    started = time.monotonic()
    first = selectors.room_status(slug=room.slug).admitted_through
    assert first == 10  # one second of credit at most
    time.sleep(1.0)
    second = selectors.room_status(slug=room.slug).admitted_through
    elapsed = time.monotonic() - started
    assert 10 + math.floor(10 * (elapsed - 0.1)) <= second <= 10 + math.ceil(10 * elapsed) + 1
    status = selectors.room_status(slug=room.slug)
    assert status.in_flight == status.admitted_through
    assert status.queue_length == 100 - status.admitted_through


@pytest.mark.parametrize(("stock", "allowance", "cap"), [(3, 0, 3), (10, 50, 15), (7, 10, 8)])
def test_admission_never_beyond_the_stock_cap(sale, make_room, stock, allowance, cap):
    sku = sale.sku("A", stock=stock)
    room = make_room([sku], dropout_allowance_percent=allowance)
    for i in range(30):
        services.room_join(slug=room.slug, holder=f"anon:cap-{i}")
    status = selectors.room_status(slug=room.slug)
    assert cap == math.ceil(stock * (1 + allowance / 100))
    assert (status.in_flight, status.admitted_through) == (cap, cap)
    assert status.units_left == stock
    assert status.state == "open"


def test_sold_out_then_resumes_on_released_stock(sale, make_room, inv):
    sku = sale.sku("A", stock=1)
    room = make_room([sku], dropout_allowance_percent=0)
    buyer, waiting = Client(), Client()
    assert join(buyer, room.slug).json()["admitted"] is True
    assert join(waiting, room.slug).json()["admitted"] is False
    r = buyer.post(
        "/api/orders",
        {"items": [{"sku": sku, "quantity": 1}]},
        content_type="application/json",
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 202, r.content
    order_id = r.json()["order_id"]
    status = selectors.room_status(slug=room.slug)
    assert (status.state, status.units_left, status.in_flight) == ("sold_out", 0, 0)
    doc = Client().get(f"/queue/{room.slug}/status").json()
    assert (doc["state"], doc["admitted_through"], doc["units_left"]) == ("sold_out", 1, 0)
    r = take_pass(waiting, room.slug)
    assert (r.status_code, r.json()["code"]) == (409, "QUEUE_NOT_YET")
    # The payment is declined: the reservation goes back, and admission resumes.
    assert inv.release(reservation_id=order_id) == 1
    status = selectors.room_status(slug=room.slug)
    assert (status.state, status.units_left, status.admitted_through) == ("open", 1, 2)
    r = take_pass(waiting, room.slug)
    assert r.status_code == 200, r.content
    assert r.json()["ticket"] == 2
    # A restock admits more.
    third = Client()
    assert join(third, room.slug).json()["admitted"] is False
    inv.restock(sku=sku, quantity=1)
    assert join(third, room.slug).json()["admitted"] is True


def test_sold_out_refuses_the_pass_to_the_admitted(sale, make_room, inv):
    sku = sale.sku("A", stock=2)
    room = make_room([sku], dropout_allowance_percent=0)
    a, b = Client(), Client()
    join(a, room.slug)
    join(b, room.slug)
    inv.set_available(sku=sku, available=0)  # sold elsewhere (or by the two of them)
    r = take_pass(b, room.slug)
    assert (r.status_code, r.json()["code"]) == (409, "SOLD_OUT")


def test_claim_deadline_loses_the_place(sale, make_room, settings):
    settings.QUEUE_CLAIM_SECONDS = 1
    sku = sale.sku("A", stock=100)
    room = make_room([sku], state="paused")
    c = Client()
    assert join(c, room.slug).json()["ticket"] == 1
    join(Client(), room.slug)
    room.state = "open"
    make_room.save(room)
    assert selectors.room_status(slug=room.slug).in_flight == 2
    time.sleep(1.1)
    r = take_pass(c, room.slug)
    assert (r.status_code, r.json()["code"]) == (410, "QUEUE_PLACE_LOST")
    assert selectors.room_status(slug=room.slug).in_flight == 0
    # Joining again takes a new place at the end.
    assert join(c, room.slug).json()["ticket"] == 3


def test_accounts_only_room_refuses_guests(sale, make_room):
    sku = sale.sku("A", stock=5)
    room = make_room([sku], accounts_only=True)
    guest = Client()
    r = join(guest, room.slug)
    assert (r.status_code, r.json()["code"]) == (403, "ACCOUNT_REQUIRED")
    assert (add(guest, sku).status_code, add(guest, sku).json()["code"]) == (
        403,
        "ACCOUNT_REQUIRED",
    )
    member = Client()
    session = member.session
    session["shopper_id"] = "customer:4242"
    session.save()
    member.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    r = join(member, room.slug)
    assert r.status_code == 200, r.content
    assert r.json()["admitted"] is True
    assert add(member, sku).status_code == 201
    # A guest's pass copied in does not make the guest a member either.
    r = take_pass(guest, room.slug)
    assert (r.status_code, r.json()["code"]) == (403, "ACCOUNT_REQUIRED")


def test_status_and_rooms_are_public_and_sessionless(client, sale, make_room):
    sku = sale.sku("A", stock=5)
    room = make_room([sku])
    closed = make_room([sale.sku("B")], state="closed")
    join(client, room.slug)  # a shopper with a session asks too
    for path in (f"/queue/{room.slug}/status", "/queue/rooms"):
        for c in (client, Client()):
            r = c.get(path)
            assert r.status_code == 200
            assert "Set-Cookie" not in r.headers
            assert "Cookie" not in r.headers.get("Vary", "")
            assert r["Cache-Control"].startswith("public, max-age=")
    doc = client.get(f"/queue/{room.slug}/status").json()
    assert set(doc) == {
        "room", "state", "opens_at", "admitted_through", "last_ticket", "queue_length",
        "in_flight", "units_left", "rate", "poll_ms", "server_time",
    }  # fmt: skip
    assert (doc["state"], doc["units_left"], doc["poll_ms"], doc["rate"]) == ("open", 5, 1000, 1000)
    rooms = {r["slug"]: r for r in client.get("/queue/rooms").json()["rooms"]}
    assert rooms[room.slug] == {
        "slug": room.slug,
        "title": "Test sale",
        "skus": [sku],
        "state": "open",
        "opens_at": None,
        "accounts_only": False,
        "queue_url": f"/waiting-room/{room.slug}",
    }
    assert closed.slug not in rooms
    r = client.get("/queue/no-such-room/status")
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_ROOM")
    r = join(client, "no-such-room")
    assert (r.status_code, r.json()["code"]) == (404, "UNKNOWN_ROOM")


def test_closed_room_guards_nothing(client, sale, make_room):
    sku = sale.sku("A", stock=5)
    room = make_room([sku])
    assert add(client, sku).status_code == 403
    room.state = "closed"
    make_room.save(room)
    assert add(client, sku).status_code == 201
    assert join(client, room.slug).json() == {
        "room": room.slug,
        "state": "closed",
        "admitted": True,
        "ticket": None,
    }


def test_join_needs_csrf_and_json(sale, make_room):
    room = make_room([sale.sku("A")])
    strict = Client(enforce_csrf_checks=True)
    r = join(strict, room.slug)
    assert (r.status_code, r.json()["code"]) == (403, "CSRF_FAILED")
    r = Client().post(f"/queue/{room.slug}/join", "a=b", content_type="text/plain")
    assert r.status_code == 415
    r = Client().post(f"/queue/{room.slug}/join", "[1]", content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (400, "MALFORMED_JSON")
    assert Client().get(f"/queue/{room.slug}/join").status_code == 405


def test_a_sku_is_guarded_by_one_room(sale, make_room):
    sku = sale.sku("A")
    make_room([sku])
    with pytest.raises(errors.RoomInvalid):
        make_room([sku, sale.sku("B")])


def test_rooms_publish_restores_an_emptied_redis(sale, make_room):
    sku = sale.sku("A")
    room = make_room([sku])
    client = state.client()
    client.delete(state.room_key(room.slug, "conf"), state.sku_key(sku))
    assert selectors.rooms_for_skus(skus=[sku]) == {}
    assert services.rooms_publish() >= 1
    assert selectors.rooms_for_skus(skus=[sku])[sku].slug == room.slug
    assert selectors.room_status(slug=room.slug).state == "open"


ADMIN = "/admin/order/waitingroom/waitingroom"


def test_admin_changelist_actions_and_sale_manager(
    staff_client, sale, make_room, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("ensure_roles", verbosity=0)
    user = User.objects.create_user(username="mgr", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="sale manager"))
    staff_client.force_login(user)
    sku = sale.sku("A", stock=7)
    room = make_room([sku], state="paused")
    services.room_join(slug=room.slug, holder="anon:admin-1")
    page = staff_client.get(f"{ADMIN}/")
    assert page.status_code == 200
    html = page.content.decode()
    for column in ("State now", "Queue length", "Admitted", "In flight", "Units left",
                   "Median wait", "Max wait"):  # fmt: skip
        assert column in html
    assert '<td class="field-live_state">paused</td>' in html
    assert '<td class="field-units_left">7</td>' in html
    assert '<td class="field-queue_length">1</td>' in html
    with django_capture_on_commit_callbacks(execute=True):
        r = staff_client.post(f"{ADMIN}/", {"action": "open_rooms", "_selected_action": [room.pk]})
    assert r.status_code == 302
    assert selectors.room_status(slug=room.slug).state == "open"
    # The manager changes the rate; the mirror follows.
    form = {
        "slug": room.slug,
        "title": "Renamed",
        "skus": sku,
        "state": "open",
        "admission_rate": "7",
        "dropout_allowance_percent": "20",
        "pass_ttl_seconds": "300",
    }
    with django_capture_on_commit_callbacks(execute=True):
        r = staff_client.post(f"{ADMIN}/{room.pk}/change/", form)
    assert r.status_code == 302, r.content.decode()[:2000]
    conf = state.client().hgetall(state.room_key(room.slug, "conf"))
    assert (conf["rate"], conf["allowance"], conf["pass_ttl"], conf["title"]) == (
        "7", "20", "300", "Renamed",
    )  # fmt: skip
    # A second room over the same sku is refused with a form error, not a 500.
    r = staff_client.post(f"{ADMIN}/add/", {**form, "slug": "other-room"})
    assert r.status_code == 200
    assert "guarded by the room" in r.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(f"{ADMIN}/", {"action": "close_rooms", "_selected_action": [room.pk]})
    assert selectors.rooms_for_skus(skus=[sku]) == {}
    # Finance sees nothing of the rooms.
    finance = User.objects.create_user(username="fin", password="x", is_staff=True)
    finance.groups.add(Group.objects.get(name="finance"))
    staff_client.force_login(finance)
    assert staff_client.get(f"{ADMIN}/").status_code == 403


def test_command_create_open_status(sale, django_capture_on_commit_callbacks, capsys):
    from django.core.management import call_command

    sku = sale.sku("A", stock=3)
    slug = f"cmd-{uuid.uuid4().hex[:8]}"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("waiting_room", "create", slug, "--sku", sku, "--rate", "5")
    assert WaitingRoom.objects.get(slug=slug).state == "closed"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("waiting_room", "open", slug)
    capsys.readouterr()
    call_command("waiting_room", "status", slug)
    doc = json.loads(capsys.readouterr().out)
    assert (doc["state"], doc["units_left"], doc["rate"]) == ("open", 3, 5)
    call_command("waiting_room", "list")
    assert slug in capsys.readouterr().out


def test_metrics_gauges_and_wait_histogram(client, sale, make_room):
    sku = sale.sku("A", stock=9)
    room = make_room([sku], state="paused")
    services.room_join(slug=room.slug, holder="anon:m-1")
    services.room_join(slug=room.slug, holder="anon:m-2")
    room.state = "open"
    make_room.save(room)
    text = client.get("/metrics").content.decode()
    label = f'room="{room.slug}"'
    assert f"flashsale_waitingroom_units_left{{{label}}} 9.0" in text
    assert f"flashsale_waitingroom_admitted{{{label}}} 2.0" in text
    assert f"flashsale_waitingroom_in_flight{{{label}}} 2.0" in text
    assert f"flashsale_waitingroom_queue_length{{{label}}} 0.0" in text
    assert f'flashsale_waitingroom_open{{{label},state="open"}} 1.0' in text
    assert f'flashsale_waitingroom_open{{{label},state="paused"}} 0.0' in text
    assert f"flashsale_waitingroom_wait_seconds_count{{{label}}} 2.0" in text
    assert "django_http_requests_total_by_method_total" in text  # the usual metrics too


def test_pass_middleware_is_first_after_prometheus():
    assert settings.MIDDLEWARE[:2] == [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "order_service.waitingroom.middleware.QueuePassMiddleware",
    ]


def test_passes_rebind_reissues_the_passes_for_the_new_session_key(client, sale, make_room):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from order_service.waitingroom.passes import pass_verify, passes_rebind

    sku = sale.sku("A", stock=5)
    room = make_room([sku])
    token = _admitted(client, room)
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    # What a sign-in view does: cycle the key (against fixation), then rebind.
    request = RequestFactory().post("/api/account/signin")
    request.COOKIES = {settings.SESSION_COOKIE_NAME: old_key, cookie_name(room.slug): token}
    store = client.session.__class__(old_key)
    store.load()
    request.session = store
    store.cycle_key()
    response = HttpResponse()
    rebound = passes_rebind(request, response, old_session_key=old_key)
    assert [p.slug for p in rebound] == [room.slug]
    fresh = response.cookies[cookie_name(room.slug)].value
    assert fresh != token
    assert pass_verify(token=fresh, session_key=store.session_key).ticket == 1
    # The browser now holds the new session cookie and the new pass: it buys.
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    client.cookies[cookie_name(room.slug)] = fresh
    assert add(client, sku).status_code == 201
    # The old pass is refused in the new session.
    client.cookies[cookie_name(room.slug)] = token
    r = add(client, sku)
    assert (r.status_code, r.json()["code"]) == (403, "QUEUE_PASS_INVALID")


def test_bad_definitions_are_room_invalid(sale):
    for fields in (
        {"slug": "Bad Slug", "skus": [sale.sku("A")]},
        {"slug": "no-skus", "skus": []},
        {"slug": "bad-rate", "skus": [sale.sku("B")], "admission_rate": 0},
        {"slug": "bad-sku", "skus": ["A,B"]},
    ):
        with pytest.raises(errors.RoomInvalid):
            services.room_create(title="x", **fields)
    assert not WaitingRoom.objects.filter(slug__in=["no-skus", "bad-rate", "bad-sku"]).exists()
