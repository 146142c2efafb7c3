"""A program with enough data for a dump of several RECORDS chunks (the writer starts one about every MiB).

argv: DUMP_PATH [COUNT]. `rows` holds COUNT small records; `marker` is a local the tests look for.
"""

import sys

import pyheapdump


def main(path, count):
    marker = "the bulk program's marker"
    rows = [{"id": index, "name": f"row-{index:07d}", "tags": [index % 7, f"tag-{index % 13}"]}
            for index in range(count)]
    pyheapdump.save_dump(path)  # DUMP_LINE
    return marker, rows


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30_000)
    print("dumped")
