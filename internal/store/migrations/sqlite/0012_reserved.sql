-- 0012: reserved for the stop-event/shipment tracking migration being
-- written on another branch. This placeholder only keeps the version
-- sequence gap-free on the audit branch; the integrator drops it when the
-- real 0012 lands (it must not ship beside it).
SELECT 1;
