-- The outbox: every transition appends its event to the shard's stream inside the same script,
-- so a state change and its record can never part. The event id downstream is
-- "<stream tag>/<entry id>", unique and stable across AOF reloads.
local function emit(streamKey, eventType, nowText, data)
  return redis.call('XADD', streamKey, '*', 't', eventType, 'at', nowText, 'd', cjson.encode(data))
end
