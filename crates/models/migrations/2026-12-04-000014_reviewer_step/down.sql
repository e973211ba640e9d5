ALTER TABLE resolution_results DROP CONSTRAINT resolution_results_resolution_step_check;
ALTER TABLE resolution_results ADD CONSTRAINT resolution_results_resolution_step_check
    CHECK (resolution_step IN ('lookup', 'direct', 'parse', 'compute', 'format', 'llm'));
