-- The deadline index (R8, R22, I4): one list of candidate ids per whole second of deadline, and a
-- sorted set of those seconds scored by the second's last millisecond. Entries are never removed
-- when a deadline stops mattering (paid, cancelled); the sweeper re-reads the record and skips them.
local function indexDeadline(dueSetKey, dueListKey, bucketMember, bucketScore, candidateId)
  redis.call('RPUSH', dueListKey, candidateId)
  redis.call('ZADD', dueSetKey, bucketScore, bucketMember)
end
