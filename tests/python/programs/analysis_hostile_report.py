"""A dump whose strings look like markup, for the report's escaping test. argv: PATH; prints a JSON line."""

import json
import sys

import pyheapdump


def main(path):
    hostile = {"</script><img src=x onerror=PWNED>": bytes(100_000)}
    return {"path": str(pyheapdump.save_dump(path)), "keys": len(hostile)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
