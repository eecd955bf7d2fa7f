-- The outbox: every transition appends its event to the shard's stream inside the same script,
-- so a state change and its record can never part. The event id downstream is
-- "<stream tag>/<entry id>", unique and stable across AOF reloads. Every event type and its `data`
-- are declared in engine/outbox.ts (tests/engine/outbox.test.ts holds every script to it).
local function emit(streamKey, eventType, nowText, data)
  return redis.call('XADD', streamKey, '*', 't', eventType, 'at', nowText, 'd', cjson.encode(data))
end
