"""The live core: the one thread<->loop bridge and the pure stream logic (no Django, no engine)."""
