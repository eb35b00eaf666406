"""The metrics' aggregate SQL, by family, on SQLite and PostgreSQL.

Every query answers per breakdown key (the customer's current tier, or the event's
channel), or under the single key ``None`` without a breakdown, and takes an optional
``CustomerFilter``: the hook through which a segment restricts a metric to its members.
"""
