"""The README walk-through (product -> stock -> reserve -> confirm -> events) through the client
openapi-python-client generated from openapi.yaml, asserting the parsed, typed fields.

Run by api/tests/contract.rs with BASE_URL and API_KEY set and the generated package on
PYTHONPATH."""

import datetime
import os
import sys
import uuid

from inventory_api_client import AuthenticatedClient
from inventory_api_client.api.events import list_events
from inventory_api_client.api.products import create_product
from inventory_api_client.api.reservations import confirm_reservation, create_reservation
from inventory_api_client.api.stock import create_stock, get_stock
from inventory_api_client.models import (
    CreateReservationBody,
    InitStockBody,
    ListEventsEventType,
    Problem,
    ProductBody,
    Reservation,
    ReservationStatus,
    Stock,
)

client = AuthenticatedClient(
    base_url=os.environ["BASE_URL"],
    token=os.environ["API_KEY"],
    prefix="",
    auth_header_name="X-API-Key",
    raise_on_unexpected_status=True,
)


def check(condition, what):
    if not condition:
        print(f"walkthrough: {what}", file=sys.stderr)
        sys.exit(1)


product = create_product.sync(
    client=client,
    body=ProductBody(sku="TSHIRT-M-BLUE", name="T-shirt M blue", category="apparel", price=19.9),
)
check(not isinstance(product, Problem), f"create product: {product}")
check(isinstance(product.created_at, datetime.datetime), "created_at is a datetime")
check(isinstance(product.id, uuid.UUID), "id parses as a UUID")
product_id = str(product.id)

stock = create_stock.sync(
    client=client,
    body=InitStockBody(product_id=product_id, store_id="MAD-001", initial_quantity=25),
)
check(isinstance(stock, Stock) and stock.quantity == 25, f"create stock: {stock}")

reservation = create_reservation.sync(
    client=client,
    body=CreateReservationBody(
        product_id=product_id,
        store_id="MAD-001",
        customer_id="cust-42",
        quantity=2,
        ttl_seconds=900,
    ),
)
check(isinstance(reservation, Reservation), f"reserve: {reservation}")
check(isinstance(reservation.id, uuid.UUID), "reservation id parses as a UUID")
check(reservation.status is ReservationStatus.PENDING, "status parses as the enum")
check(isinstance(reservation.expires_at, datetime.datetime), "expires_at is a datetime")
check(reservation.expires_at > reservation.created_at, "expires after it was created")

row = get_stock.sync(client=client, product_id=product_id, store_id="MAD-001")
check(isinstance(row, Stock), f"get stock: {row}")
check((row.quantity, row.reserved, row.available) == (25, 2, 23), f"after reserve: {row}")

confirmed = confirm_reservation.sync(client=client, id=str(reservation.id))
check(isinstance(confirmed, Reservation), f"confirm: {confirmed}")
check(confirmed.status is ReservationStatus.CONFIRMED, "confirmed")
row = get_stock.sync(client=client, product_id=product_id, store_id="MAD-001")
check((row.quantity, row.reserved) == (23, 0), f"after confirm: {row}")

page = list_events.sync(client=client, limit=100)
types = [e.event_type for e in page.events]
check(
    types == ["stock.created", "reservation.created", "reservation.confirmed"],
    f"events: {types}",
)
check(all(isinstance(e.created_at, datetime.datetime) for e in page.events), "event times")
check(page.next_after_seq is None, "one page")
only = list_events.sync(
    client=client, event_type=ListEventsEventType.RESERVATION_CONFIRMED, limit=10
)
check([e.event_type for e in only.events] == ["reservation.confirmed"], "event_type filter")
print("walkthrough: ok")
