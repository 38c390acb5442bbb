-- Host keys accepted on first use, per address and port. A trust-on-first-use host with
-- no pin of its own uses the key recorded here for its address and port, whichever host
-- connected there first; a key is recorded only for a registered address and port.
CREATE TABLE host_keys (
    address TEXT NOT NULL,
    port BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (address, port)
);
