-- Eligibility (R4) looks up a candidate's best CET4 score by the HMAC of the ID number. Without
-- this index every lookup read the whole table: measured 87 ms for a batch of 64 on 100k roster
-- rows, 6.9 ms with it (scripts/bench-eligibility.ts).
CREATE INDEX cet4_scores_id_hmac_idx ON cet4_scores (id_hmac) INCLUDE (score, year);
