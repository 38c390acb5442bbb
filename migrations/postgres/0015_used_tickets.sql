-- Tickets (a credential for one URL, for a minute) are good for one use: the first use
-- records the ticket's id here, and a second is refused. Rows go once their ticket has
-- run out.
CREATE TABLE used_tickets (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_tickets_expiry ON used_tickets(expires_at);
