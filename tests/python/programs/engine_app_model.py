"""The dumped program's own module (the tests copy it next to engine_app_main.py into a temporary directory)."""

import collections


class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance

    def balance_after(self, *amounts):
        return self.balance + sum(amounts)

    class History:
        def __init__(self, entries):
            self.entries = list(entries)

        def total(self):
            return sum(self.entries)


class Ledger(dict):
    def owners(self):
        return sorted(account.owner for account in self.values())


Pair = collections.namedtuple("Pair", "left right")
