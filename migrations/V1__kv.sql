-- kvittens' store over PostgreSQL (src/store/pg): the same ordered key-value map as sled holds,
-- so the case logic above it is written once. BYTEA compares bytewise, as sled orders its keys.
CREATE TABLE kv (
    key BYTEA PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Numbers handed out once (schedule entries, ignored mail): rising, never reused.
CREATE SEQUENCE kv_ids AS BIGINT START 1;

-- Who does what when several instances share the database: one row a lease, renewed against
-- the database's clock, taken over by another holder once it has expired.
CREATE TABLE lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);

-- The "being read" mark of each watched folder: the message being read when a crash came.
CREATE TABLE reading (
    folder TEXT PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    uid BIGINT NOT NULL
);
