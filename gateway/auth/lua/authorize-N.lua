-- The session check and the session's rate-limit counters in one round trip (the hot path of
-- every candidate request at opening). All keys share the session's hash tag (its token hash), so
-- the script runs unchanged on Redis Cluster.
-- KEYS[1]       the session's cache entry ("<accountId>:<expiresAtMs>", "revoked", or absent)
-- KEYS[2..n]    fixed-window counters of this session; ARGV[i] is the window (ms) of KEYS[i + 1]
-- Returns { entry or "", count of KEYS[2], … }.
local answer = { redis.call('GET', KEYS[1]) or '' }
for i = 2, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[i - 1]) end
  answer[i] = count
end
return answer
