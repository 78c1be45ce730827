-- 0004: the vehicle status change counter. Every replica polls it (and is
-- woken by NOTIFY fifthwheel_vehicle_status) and, when it moves, closes the
-- live connections of the vehicles an operator suspended or retired.
CREATE TABLE registry_state (
    one                    INT    PRIMARY KEY CHECK (one = 1),
    vehicle_status_version BIGINT NOT NULL
);
INSERT INTO registry_state(one, vehicle_status_version) VALUES (1, 0);
