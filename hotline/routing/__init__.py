"""The routing engine: per-branch priority queues and doctor presence in Redis, decided by Lua.

The database is the durable record; each transition carries a version so a late
database write cannot overwrite a newer one, and everything here can be rebuilt from
the database (hotline.rebuild). ``keys`` is the key schema, ``router`` the engine,
``outcome`` what a decision changed, ``lua/`` the decisions themselves.
"""
