-- 0002: where this node has reached each member device, and when. Local
-- data, never replicated: the node dials these addresses again after a
-- restart. Bounded per device (MaxContactAddrs, enforced on write).
--
-- last is Unix milliseconds; via is store.Via (1 LAN, 2 direct, 3 relay).
CREATE TABLE contacts (
	device BLOB    NOT NULL,
	addr   BLOB    NOT NULL,
	last   INTEGER NOT NULL,
	via    INTEGER NOT NULL,
	PRIMARY KEY (device, addr)
) WITHOUT ROWID;
