"""An imported module whose frame is on the dumped stack: its globals' __builtins__ is a dict, not the module."""


class Customer:
    def __init__(self, email: str) -> None:
        self.email = email


def close_account(customers: list[Customer]) -> None:
    first = customers[0]
    raise LookupError(f"no account for {first.email}")  # RAISE_LINE
