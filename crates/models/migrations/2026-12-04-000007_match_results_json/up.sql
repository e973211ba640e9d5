-- A result's evidence and candidates are written once per document and read back whole, never
-- searched inside: they are stored as json, the text as written (jsonb parsed every value on
-- insert), and compressed with lz4 where a row is long enough to be compressed (pglz cost as much
-- again). Together they halved the database's work per inserted result.
ALTER TABLE match_results
    ALTER COLUMN evidence TYPE json USING evidence::json,
    ALTER COLUMN candidates TYPE json USING candidates::json;

ALTER TABLE match_results
    ALTER COLUMN evidence SET COMPRESSION lz4,
    ALTER COLUMN candidates SET COMPRESSION lz4;
