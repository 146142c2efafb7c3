"""A service that handles an error and logs it with logger.exception; HeapDumpHandler dumps it."""

import logging
import sys

from pyheapdump.capture.logging_handler import HeapDumpHandler

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("billing")
log.addHandler(HeapDumpHandler(directory=sys.argv[1]))


def load_invoice(invoice_id):
    invoices = {1: {"amount": 10}}
    return invoices[invoice_id]


def handle_request(invoice_id):
    customer = "ACME"
    try:
        return load_invoice(invoice_id)
    except KeyError:
        log.exception("invoice %s of %s not found", invoice_id, customer)
        return None


handle_request(2)
log.error("an error without an exception does not dump")
log.warning("neither does a warning")
print("request handled", flush=True)
