-- 0016: reserved for a migration in flight on another branch (issue 22
-- helpers). It does nothing; at merge it is replaced by that migration.
SELECT 1;
