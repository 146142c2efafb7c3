"""A Flask order service: a SQLAlchemy session on sqlite, a pydantic request model, an attrs quote, a pandas
history and an Enum. The view fails on a customer tier it has no discount for; `dump_on_error` dumps it.

No `if __name__ == "__main__"` guard, as in many real scripts: loading the dump must not run any of this again.
Every run of the top level appends a line to DIRECTORY/ran.log, so a test can tell.
Environment: REAL_PROGRAM_DIR, the directory to work in.
"""

import datetime
import enum
import os
import pathlib

import attrs
import pandas
import pydantic
import sqlalchemy as sa
from flask import Flask, request
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import pyheapdump

directory = pathlib.Path(os.environ["REAL_PROGRAM_DIR"])  # configured like a service: by its environment
with open(directory / "ran.log", "a") as log:
    log.write("ran\n")


class Tier(enum.Enum):
    GOLD = "gold"
    BASIC = "basic"


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    tier: Mapped[str]


class OrderIn(pydantic.BaseModel):
    customer_id: int
    quantity: int
    unit_price: float


@attrs.define
class Quote:
    customer_email: str
    subtotal: float
    placed: datetime.datetime


DISCOUNTS = {Tier.GOLD: 0.1}

engine = sa.create_engine(f"sqlite:///{directory / 'shop.db'}")
Base.metadata.create_all(engine)
with Session(engine) as setup:
    setup.add_all([Customer(id=1, email="ada@example.com", tier="gold"),
                   Customer(id=2, email="bob@example.com", tier="basic")])
    setup.commit()

app = Flask("orders")
app.testing = True


@app.post("/orders")
@pyheapdump.dump_on_error(directory)
def create_order():
    order = OrderIn.model_validate(request.get_json())
    with Session(engine) as session:
        customer = session.get(Customer, order.customer_id)
        history = pandas.DataFrame({"quantity": [1, 5, 2], "unit_price": [9.5, 9.0, 10.0]})
        quote = Quote(customer.email, order.quantity * order.unit_price,
                      datetime.datetime(2026, 12, 5, 9, 30, tzinfo=datetime.UTC))
        tier = Tier(customer.tier)
        discount = DISCOUNTS[tier]  # FAILS: no discount for Tier.BASIC
        return {"total": quote.subtotal * (1 - discount), "orders_before": len(history)}


client = app.test_client()
try:
    client.post("/orders", json={"customer_id": 2, "quantity": 3, "unit_price": 19.99})
except KeyError as error:
    print(f"request failed: KeyError {error}")
