"""Tables every service has in its own schema: the outbox and the consumed offsets."""

from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, MetaData, String, Table, func

PLUMBING = MetaData()

# Messages to publish, written in the same transaction as the state change that caused them.
outbox = Table(
    "outbox",
    PLUMBING,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(200), nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The next offset to read per partition, committed with the batch it covers (exactly-once effects).
consumer_offsets = Table(
    "consumer_offsets",
    PLUMBING,
    Column("consumer_group", String(200), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
