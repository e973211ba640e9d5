-- A value a reviewer settled in the review UI (a code picked among a lookup's candidates).
ALTER TABLE resolution_results DROP CONSTRAINT resolution_results_resolution_step_check;
ALTER TABLE resolution_results ADD CONSTRAINT resolution_results_resolution_step_check
    CHECK (resolution_step IN ('lookup', 'direct', 'parse', 'compute', 'format', 'llm', 'reviewer'));
