-- A registration record is one MessagePack value per candidate (the hash field is the candidate
-- id) in a bucketed hash; MessagePack, not JSON, because bytes per candidate count (P4):
--   c candidateId (the field name; not stored in the value), a accountId, k bind token, w written campus, t savedAt,
--   e empty deadline (0 while the registration holds a live subject, R8), s snapshot (R7),
--   i items by subject: {kind W|O, campus, status H|P|X|C, heldAt, payBy, holdId, fee, requiredWritten,
--     settledAt (when it was paid, cancelled or expired; 0 while held)}
local I_KIND, I_CAMPUS, I_STATUS, I_HELD, I_PAY_BY, I_HOLD, I_FEE, I_REQUIRES, I_SETTLED = 1, 2, 3, 4, 5, 6, 7, 8, 9

local function loadRecord(bucketKey, candidateId)
  local raw = redis.call('HGET', bucketKey, candidateId)
  if not raw then return nil end
  local rec = cmsgpack.unpack(raw)
  if type(rec.i) ~= 'table' then rec.i = {} end
  rec.c = candidateId
  return rec
end

local function saveRecord(bucketKey, rec)
  local candidateId = rec.c
  rec.c = nil
  redis.call('HSET', bucketKey, candidateId, cmsgpack.pack(rec))
  rec.c = candidateId
end

local function isLive(item)
  return item ~= nil and (item[I_STATUS] == 'H' or item[I_STATUS] == 'P')
end

local function hasLiveItem(rec)
  for _, item in pairs(rec.i) do
    if isLive(item) then return true end
  end
  return false
end
