-- A per-account rate limit counted by the hold it guards (the `reserve` rule; issue 13, P2: a
-- reservation is one script call), its counter under the province's hash tag. Called first: past
-- the limit the hold answers RATE_LIMITED and changes nothing, the counter included; otherwise the
-- counter is hit (its expiry set by the hit that made it) and the hold goes on.
-- limit '' means no guard: the key is then not touched.
local function guardRefuses(key, windowMs, limit)
  if limit == '' then return false end
  if tonumber(redis.call('GET', key) or '0') >= tonumber(limit) then return true end
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, windowMs) end
  return false
end
