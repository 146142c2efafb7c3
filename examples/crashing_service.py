"""A small order-processing job that fails on bad input: the demo for pyheapdump.

Run it under `pyheapdump run` (scripts/demo.sh does) and the crash leaves a .heapdump file whose traceback and
local variables can be read later, in another process, with `pyheapdump traceback --locals DUMP`.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import threading


@dataclasses.dataclass
class Order:
    order_id: int
    customer: str
    quantity: int
    unit_price: decimal.Decimal
    placed: datetime.datetime


class PriceCalculator:
    def __init__(self, discounts: dict[str, decimal.Decimal]) -> None:
        self.discounts = discounts
        self.processed: list[Order] = []

    def total(self, order: Order) -> decimal.Decimal:
        discount = self.discounts.get(order.customer, decimal.Decimal(0))
        per_unit = order.unit_price * (1 - discount)
        average = per_unit / order.quantity * order.quantity  # fails for an order of zero items
        self.processed.append(order)
        return average


def heartbeat(stop: threading.Event) -> None:
    beats = 0
    while not stop.wait(0.05):
        beats += 1


def main() -> None:
    stop = threading.Event()
    threading.Thread(target=heartbeat, args=(stop,), name="heartbeat", daemon=True).start()
    calculator = PriceCalculator({"acme": decimal.Decimal("0.10")})
    now = datetime.datetime(2026, 11, 22, 9, 30, tzinfo=datetime.UTC)
    orders = [
        Order(1, "acme", 3, decimal.Decimal("9.99"), now),
        Order(2, "globex", 1, decimal.Decimal("120.00"), now),
        Order(3, "initech", 0, decimal.Decimal("15.50"), now),
    ]
    for order in orders:
        print(f"order {order.order_id}: {calculator.total(order)}")


if __name__ == "__main__":
    main()
