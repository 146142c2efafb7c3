"""A SQLAlchemy 2.x ORM program: a declarative Customer model (in __main__, or in trusted_orm_model.py with
`imported`), a sqlite database, a Session and a loaded Customer; dumps while the session is open.

argv: DUMP_PATH DB_PATH [imported]
"""

import sys

from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import pyheapdump

if len(sys.argv) > 3 and sys.argv[3] == "imported":
    from trusted_orm_model import Customer
else:
    class Base(DeclarativeBase):
        pass

    class Customer(Base):
        __tablename__ = "customer"

        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        email: Mapped[str] = mapped_column(String(100))

        def greeting(self):
            return f"dear {self.name}"

    Base.metadata.create_all  # noqa: B018 - the model's Base, for create_all below


def main(dump_path, db_path):
    engine = create_engine(f"sqlite:///{db_path}")
    Customer.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Customer(name="ada", email="ada@example.com"))
        session.commit()
    with Session(engine) as session:
        customer = session.scalars(select(Customer).where(Customer.name == "ada")).one()
        assert customer.email == "ada@example.com"
        pyheapdump.save_dump(dump_path)
    print("dumped", flush=True)


main(sys.argv[1], sys.argv[2])
