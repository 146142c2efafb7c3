"""A unittest suite with a failure, an error, a failing subtest, a pass, a skip and an expected failure."""

import unittest


class AccountTests(unittest.TestCase):
    def setUp(self):
        self.balance = 100

    def test_withdraw_fails(self):
        withdrawn = 30
        self.assertEqual(self.balance - withdrawn, 60)

    def test_deposit_errors(self):
        deposit = {"amount": "ten"}
        self.balance += deposit["amount"]

    def test_passes(self):
        self.assertEqual(self.balance, 100)

    def test_limits(self):
        for limit in (50, 500):
            with self.subTest(limit=limit):
                self.assertLess(self.balance, limit)

    @unittest.skip("not today")
    def test_skipped(self):
        raise AssertionError("never runs")

    @unittest.expectedFailure
    def test_known_bug(self):
        raise AssertionError("known")


if __name__ == "__main__":
    unittest.main()
