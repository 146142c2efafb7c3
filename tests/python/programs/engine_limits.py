"""A program with data past every limit, dumped with the limits given as JSON.

argv: DUMP_PATH LIMITS_JSON [CROWD]. `crowd` is a list of CROWD one-element lists (default 200,000), enough
objects to pass max_objects or a short time_limit; `long_list`, `long_dict`, `long_str` and `long_bytes` pass
max_items and max_str. `record` (three str keys), `tags` (three str elements) and `pair` (a tuple holding a str) are
queued after thousands of other objects, so a small max_objects cuts their strings. `late_table` is `long_dict`
again, named after `crowd`, so its keys are queued after the crowd's lists: a short time_limit, which stops the walk
somewhere in the crowd however fast the machine is, cuts them too (long_dict's keys may all be written first).
"""

import json
import sys

import pyheapdump


class Item:
    def __init__(self, number):
        self.number = number


def main(path, limits, crowd_size):
    long_list = list(range(5000))
    long_dict = {f"key-{index}": index for index in range(3000)}
    long_str = "s" * 10_000 + "END"
    long_bytes = b"b" * 10_000 + b"END"
    items = [Item(index) for index in range(50)]
    crowd = [[index] for index in range(crowd_size)]
    late_table = {f"late-{index}": index for index in range(3000)}
    record = {"id": 1000, "score": 0.0, "name": "n" + str(crowd_size)}
    tags = {"red" + str(crowd_size), "green" + str(crowd_size), "blue" + str(crowd_size)}
    pair = (7, "seven" + str(crowd_size))
    pyheapdump.save_dump(path, **limits)  # DUMP_LINE
    return long_list, long_dict, long_str, long_bytes, items, crowd, late_table, record, tags, pair


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 200_000)
    print("dumped")
