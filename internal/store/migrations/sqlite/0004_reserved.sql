-- 0004: PLACEHOLDER on branch h-misc only. Another change of issue 15 adds
-- the real 0004 in parallel; the migration runner needs contiguous versions,
-- so this no-op keeps 0005 runnable here. Drop this file when merging.
SELECT 1;
