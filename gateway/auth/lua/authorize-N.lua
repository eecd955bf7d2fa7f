-- The session check and its account's rate-limit counters in one round trip (the hot path of
-- every candidate request at opening). The session's cache entry and the counters share the
-- account's hash tag (the token names its account: gateway/auth/sessions.ts), so the script runs
-- unchanged on Redis Cluster. A counter is hit only for a live session of that account: a token
-- naming an account it does not belong to counts nothing against it.
-- KEYS[1]       the session's cache entry ("<accountId>:<expiresAtMs>", "revoked", or absent)
-- KEYS[2..n]    fixed-window counters of the account; ARGV[i + 1] is the window (ms) of KEYS[i]
-- ARGV[1]       the account the token names
-- ARGV[2]       now (ms)
-- Returns { "" } when the entry is absent; { entry } when it is not a live session of ARGV[1];
-- else { entry, count of KEYS[2], … }.
local entry = redis.call('GET', KEYS[1])
if not entry then return { '' } end
local account, expiresAt = string.match(entry, '^(%d+):(%d+)$')
if account ~= ARGV[1] or tonumber(expiresAt) <= tonumber(ARGV[2]) then return { entry } end
local answer = { entry }
for i = 2, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[i + 1]) end
  answer[i] = count
end
return answer
