-- 0004: the vehicle status change counter. Every replica polls it (one
-- indexed read) and, when it moves, closes the live connections of the
-- vehicles an operator suspended or retired.
CREATE TABLE registry_state (
    one                    INTEGER PRIMARY KEY CHECK (one = 1),
    vehicle_status_version INTEGER NOT NULL
) STRICT;
INSERT INTO registry_state(one, vehicle_status_version) VALUES (1, 0);
