"""Debugging a loaded dump: the pdb family (pdb, pdbpp, ipdb, pudb) and `ide/` (the DAP server and the PyDev
bridge)."""
