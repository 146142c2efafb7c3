"""A program with its own module and classes in its __main__, dumped for loading where neither exists.

argv: DUMP_PATH. Importing this file writes `imported-as-<__name__>` next to it; running it as a script also writes
`main-block-ran`. A trusted load imports the script to find its classes and must not run the main block.
"""

import pathlib
import sys

from engine_app_model import Account, Ledger, Pair

import pyheapdump

HERE = pathlib.Path(__file__).resolve().parent
(HERE / f"imported-as-{__name__}").write_text("this module was imported\n")


class Session:
    def __init__(self, user, account):
        self.user = user
        self.account = account

    def greeting(self):
        return f"hello {self.user}, you have {self.account.balance}"


def main(path):
    account = Account("ada", 120)
    history = Account.History([5, 10, 20])
    ledger = Ledger(ada=account)
    ledger.audited = True
    pair = Pair(left=account, right="right side")
    session = Session("ada", account)

    def local_helper():
        return session

    pyheapdump.save_dump(path)  # DUMP_LINE
    return account, history, ledger, pair, session, local_helper


if __name__ == "__main__":
    (HERE / "main-block-ran").write_text("the main block ran\n")
    main(sys.argv[1])
    print("dumped")
