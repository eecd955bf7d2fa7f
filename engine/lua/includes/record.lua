-- A registration record is one MessagePack value per candidate (the hash field is the candidate
-- id) in a bucketed hash; MessagePack, not JSON, because bytes per candidate count (P4):
--   c candidateId (the field name; not stored in the value), a accountId, k bind token, w written campus, t savedAt,
--   e empty deadline (0 while the registration holds a live subject, R8), s snapshot (R7),
--   i items by subject: {kind W|O, campus, status H|P|X|C, heldAt, payBy, holdId, fee, requiredWritten,
--     settledAt (when it was paid, cancelled or expired; 0 while held),
--     request tag (absent without one: a tag of the Idempotency-Key of the request that held it)}
local I_KIND, I_CAMPUS, I_STATUS, I_HELD, I_PAY_BY, I_HOLD, I_FEE, I_REQUIRES, I_SETTLED = 1, 2, 3, 4, 5, 6, 7, 8, 9
local I_TAG = 10

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

-- REL4: the item a request with this tag already made (a retry whose first answer was lost: a
-- gateway or Redis died between the hold and the stored answer), or nil
local function heldByRequest(rec, subject, requestTag)
  if requestTag == '' then return nil end
  local item = rec.i[subject]
  if item ~= nil and item[I_TAG] == requestTag then return item end
  return nil
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
