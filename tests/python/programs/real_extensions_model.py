"""A class of the real_extensions program that a trusted load cannot rebuild: its constructor refuses what the dump
gives it, with a message of several lines (as pybind11's errors have)."""


class Fragile:
    """Reduced (with call_user_reduce) to Fragile(label); made again only while the program runs."""

    building = False  # the program sets it; a process that loads the dump does not

    def __init__(self, label):
        if not Fragile.building:
            raise ValueError(f"cannot make {label} again\nsecond line of the message\nthird line")
        self.label = label

    def __reduce__(self):
        return (Fragile, (self.label,))
