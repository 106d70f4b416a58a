"""The waiting room's refusals, in the order API's style (orders/errors.py): each has a
stable ``code`` and ``http_status``; the order API and the room's views answer them as
``{"code", "message", "detail"}``."""

from __future__ import annotations

from order_service.orders.errors import OrderError


class QueueRequired(OrderError):
    """A buying request for a sku of a guarded room without that room's pass."""

    code = "QUEUE_REQUIRED"
    http_status = 403
    message = "This sale has a waiting room: join the queue to buy."


class AccountRequired(OrderError):
    code = "ACCOUNT_REQUIRED"
    http_status = 403
    message = "This sale is for signed-in shoppers only: sign in to join the queue."


class QueuePassInvalid(OrderError):
    """Answered by the middleware itself (middleware.py), listed here for the code."""

    code = "QUEUE_PASS_INVALID"
    http_status = 403
    message = "The waiting room pass is not valid for this session; join the queue again."


class UnknownRoom(OrderError):
    code = "UNKNOWN_ROOM"
    http_status = 404
    message = "No such waiting room."


class QueueNotYet(OrderError):
    code = "QUEUE_NOT_YET"
    http_status = 409
    message = "Your turn has not come yet."


class QueueNotJoined(OrderError):
    code = "QUEUE_NOT_JOINED"
    http_status = 409
    message = "Join the queue first."


class QueueSoldOut(OrderError):
    code = "SOLD_OUT"
    http_status = 409
    message = "Sold out."


class QueuePlaceLost(OrderError):
    code = "QUEUE_PLACE_LOST"
    http_status = 410
    message = "Your turn came and went; join again to take a new place at the end."


class RoomInvalid(OrderError):
    code = "ROOM_INVALID"
    http_status = 422
    message = "The waiting room's definition is not valid."
