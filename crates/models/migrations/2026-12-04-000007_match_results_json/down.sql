ALTER TABLE match_results
    ALTER COLUMN evidence SET COMPRESSION pglz,
    ALTER COLUMN candidates SET COMPRESSION pglz;

ALTER TABLE match_results
    ALTER COLUMN evidence TYPE jsonb USING evidence::jsonb,
    ALTER COLUMN candidates TYPE jsonb USING candidates::jsonb;
