"""A realistic pandas/numpy pipeline that fails and dumps itself from the except block.

argv: DUMP_PATH PICKLE_PATH. Reads orders from a CSV held in a StringIO, adds a categorical column and tz-aware
timestamps, groups, merges with a customer table, then looks up a column that does not exist (KeyError). The except
block dumps the process; the frames the test compares are also pickled to PICKLE_PATH (pickle here is only the
test's reference, written by pandas itself). The last line printed is a JSON report of the frames' facts.
"""

import io
import json
import pickle
import sys

import numpy as np
import pandas as pd

import pyheapdump

ORDERS_CSV = """order_id,customer,amount,quantity,placed,status
1001,alice,19.99,1,2024-03-01 09:15:00,shipped
1002,bob,5.50,3,2024-03-01 10:02:00,pending
1003,alice,120.00,2,2024-03-02 14:30:00,shipped
1004,carol,42.10,,2024-03-03 08:45:00,cancelled
1005,dave,7.25,5,2024-03-03 17:20:00,pending
1006,bob,64.00,1,2024-03-04 12:00:00,shipped
1007,erin,3.99,12,2024-03-05 19:05:00,shipped
"""


SIDE_EFFECTS = []  # the subclass's code appends here whenever it runs


class AuditedFrame(pd.DataFrame):
    """A program's DataFrame subclass: its methods must not run while dumping."""

    _metadata = ["source"]

    @property
    def _constructor(self):
        SIDE_EFFECTS.append("_constructor")
        return AuditedFrame

    @property
    def shape(self):
        SIDE_EFFECTS.append("shape")
        return super().shape

    def __repr__(self):
        SIDE_EFFECTS.append("__repr__")
        return "AuditedFrame(...)"

    def describe_audit(self):
        return f"audited {len(self)} rows"


def pipeline(dump_path, pickle_path):
    orders = pd.read_csv(io.StringIO(ORDERS_CSV), parse_dates=["placed"])
    orders["placed"] = orders["placed"].dt.tz_localize("Europe/Berlin")
    orders["status"] = orders["status"].astype(pd.CategoricalDtype(["pending", "shipped", "cancelled"]))
    orders["quantity"] = orders["quantity"].astype("Int64")
    orders["big"] = (orders["amount"] > 40).astype("boolean")
    orders["wait"] = orders["placed"] - orders["placed"].min()
    orders["note"] = [None, "gift", {"wrap": True}, 3, 2.5, ("a", 1), "rush"]
    orders["label"] = pd.array(["a", None, "c", "d", "e", "f", "g"], dtype="string")

    customers = pd.DataFrame({
        "customer": ["alice", "bob", "carol", "dave"],
        "region": ["north", "south", "north", "east"],
        "since": pd.to_datetime(["2020-01-05", "2021-06-30", "2019-11-11", "2023-02-14"]),
    })
    totals = orders.groupby("customer", as_index=True)["amount"].agg(["sum", "count"])
    by_region_status = (orders.merge(customers, on="customer", how="left")
                        .groupby(["region", "status"], observed=True)["amount"].sum())
    merged = orders.merge(customers, on="customer", how="left").set_index(["customer", "order_id"])
    amounts = orders["amount"].rename("amounts")
    placed_index = pd.DatetimeIndex(orders["placed"], name="placed_at")
    daily = pd.Series(np.arange(4, dtype=np.int32), index=pd.date_range("2024-03-01", periods=4, freq="D"),
                      name="daily")
    matrix = np.arange(12, dtype=np.float64).reshape(3, 4) / 4
    audited = AuditedFrame({"x": [1, 2, 3], "y": ["p", "q", "r"]})
    empty = pd.DataFrame()

    frames = {"orders": orders, "customers": customers, "totals": totals, "merged": merged, "audited": audited,
              "empty": empty}
    series = {"amounts": amounts, "by_region_status": by_region_status, "daily": daily}
    with open(pickle_path, "wb") as handle:
        pickle.dump({"frames": {name: pd.DataFrame(frame) for name, frame in frames.items()}, "series": series,
                     "placed_index": placed_index, "matrix": matrix}, handle)
    try:
        return merged["discount"].sum()  # there is no such column: KeyError
    except KeyError:
        SIDE_EFFECTS.clear()
        pyheapdump.save_dump(dump_path)
        report = {"side_effects": list(SIDE_EFFECTS)}
        report["audited_type"] = type(audited).__name__
        print(json.dumps(report))
        return None


if __name__ == "__main__":
    pipeline(sys.argv[1], sys.argv[2])
