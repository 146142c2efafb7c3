"""What a dump looks like to a person: value text and the dumped sources, shared by pdb, the DAP server and the
CLI."""
