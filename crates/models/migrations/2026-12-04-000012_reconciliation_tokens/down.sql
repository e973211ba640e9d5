DROP TABLE reconciliation_tokens;
