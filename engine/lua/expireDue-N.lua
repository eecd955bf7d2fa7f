--[[
  The sweeper's transition (R8, R22, I4): for one due second of the deadline index, release every
  hold past its pay-by (with its dependent oral item, R18) and delete registrations that stayed
  empty past their deadline, binding included. Exactly once: a hold is released only from status
  H, atomically; index entries whose deadline no longer matters are skipped.
  The caller read the first N entries of the due list to name their registration buckets in KEYS;
  if the list changed meanwhile (another sweeper), nothing is done and RETRY is answered.
  Key count varies: KEYS[1] due set  KEYS[2] due list (this second)  KEYS[3] capacity  KEYS[4] used
  KEYS[5] stream  KEYS[6] seat channel  KEYS[7] due list of a new empty deadline
  KEYS[8..7+N] registrations bucket of each candidate
  ARGV[1] now  ARGV[2] due bucket member  ARGV[3] new empty deadline  ARGV[4] its member  ARGV[5] its score
  ARGV[6..5+N] candidate ids (the first N entries of the due list)
  Returns ok {status = "DONE"|"MORE"|"RETRY"|"NOT_DUE", expired = list of {candidateId, subject, holdId},
              deleted = list of {candidateId, accountId, token}}
  Emits EXPIRED per released hold (includes/release.lua) and DELETED per deleted registration
  (payloads declared in engine/outbox.ts)
]]
local dueSetKey, dueListKey, capacityKey, usedKey, streamKey, channel, emptyDueListKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local nowText = ARGV[1]
local now, bucketMember = tonumber(nowText), ARGV[2]
local emptyDeadline, emptyMember, emptyScore = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local count = #ARGV - 5

--@include result
--@include record
--@include events
--@include seats
--@include deadlines
--@include release

local score = tonumber(redis.call('ZSCORE', dueSetKey, bucketMember))
if score == nil then return ok({ status = 'DONE', expired = {}, deleted = {} }) end
if score > now then return ok({ status = 'NOT_DUE', expired = {}, deleted = {} }) end

if count > 0 then
  local head = redis.call('LRANGE', dueListKey, 0, count - 1)
  if #head ~= count then return ok({ status = 'RETRY', expired = {}, deleted = {} }) end
  for n = 1, count do
    if head[n] ~= ARGV[5 + n] then return ok({ status = 'RETRY', expired = {}, deleted = {} }) end
  end
end

local ctx = { capacity = capacityKey, used = usedKey, stream = streamKey, channel = channel, now = now, nowText = nowText }
local expired, deleted = {}, {}

local function sweepRecord(registrationsKey, candidateId)
  local rec = loadRecord(registrationsKey, candidateId)
  if rec == nil then return end
  local changed = false
  -- written first, so that a dependent oral item is ended with its written item (reason WRITTEN_ENDED)
  for _, kind in ipairs({ 'W', 'O' }) do
    local subjects = {}
    for subject, item in pairs(rec.i) do
      if item[I_KIND] == kind and item[I_STATUS] == 'H' and item[I_PAY_BY] <= now then subjects[#subjects + 1] = subject end
    end
    table.sort(subjects)
    for _, subject in ipairs(subjects) do
      if rec.i[subject][I_STATUS] == 'H' then
        for _, ended in ipairs(endItemWithDependents(ctx, rec, subject, 'X', 'EXPIRED', 'PAY_BY_PASSED')) do
          expired[#expired + 1] = { candidateId, ended, rec.i[ended][I_HOLD] }
        end
        changed = true
      end
    end
  end
  if not hasLiveItem(rec) then
    if rec.e == 0 then
      rec.e = emptyDeadline
      indexDeadline(dueSetKey, emptyDueListKey, emptyMember, emptyScore, candidateId)
      changed = true
    elseif rec.e <= now then
      redis.call('HDEL', registrationsKey, candidateId)
      emit(streamKey, 'DELETED', nowText, { candidateId = candidateId, accountId = rec.a, reason = 'EMPTY_PAST_DEADLINE' })
      deleted[#deleted + 1] = { candidateId, rec.a, rec.k }
      return
    end
  end
  if changed then saveRecord(registrationsKey, rec) end
end

for n = 1, count do
  sweepRecord(KEYS[7 + n], ARGV[5 + n])
end

local status = 'MORE'
if count > 0 then redis.call('LTRIM', dueListKey, count, -1) end
if redis.call('LLEN', dueListKey) == 0 then
  redis.call('DEL', dueListKey)
  redis.call('ZREM', dueSetKey, bucketMember)
  status = 'DONE'
end
return ok({ status = status, expired = expired, deleted = deleted })
