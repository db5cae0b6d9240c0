"""The business-free runtime: the declaration vocabulary, the faust adapter, guard, dead letters."""
