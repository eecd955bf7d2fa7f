--[[
  Cancel an unpaid subject; cancelling a written subject also cancels the oral subject that
  depends on it (R18). A registration left with no live subject gets a new empty deadline (R8).
  KEYS[1] registrations bucket  KEYS[2] calendar  KEYS[3] capacity  KEYS[4] used  KEYS[5] due set
  KEYS[6] due list of the empty deadline  KEYS[7] stream  KEYS[8] seat channel
  ARGV[1] candidateId  ARGV[2] accountId  ARGV[3] subject  ARGV[4] now
  ARGV[5] empty deadline  ARGV[6] its due bucket member  ARGV[7] its score
  Returns ok {cancelled = [subjects]}
       or NO_REGISTRATION | REGISTRATION_NOT_OPEN | REGISTRATION_CLOSED | NOT_REGISTERED | ALREADY_PAID
  Emits CANCELLED per ended subject (includes/release.lua; payload declared in engine/outbox.ts)
]]
local registrationsKey, calendarKey, capacityKey, usedKey, dueSetKey, dueListKey, streamKey, channel =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local candidateId, accountId, subject = ARGV[1], ARGV[2], ARGV[3]
local nowText = ARGV[4]
local now, emptyDeadline, bucketMember, bucketScore = tonumber(nowText), tonumber(ARGV[5]), ARGV[6], ARGV[7]

--@include result
--@include record
--@include window
--@include events
--@include seats
--@include deadlines
--@include release

local rec = loadRecord(registrationsKey, candidateId)
if rec == nil or rec.a ~= accountId then return refuse(CODE.NO_REGISTRATION) end

local closed = windowRefusal(calendarKey, now)
if closed then return refuse(closed) end

local item = rec.i[subject]
if not isLive(item) then return refuse(CODE.NOT_REGISTERED) end
if item[I_STATUS] == 'P' then return refuse(CODE.ALREADY_PAID) end
if item[I_KIND] == 'W' then
  for other, dependent in pairs(rec.i) do
    if dependent[I_KIND] == 'O' and dependent[I_REQUIRES] == subject and dependent[I_STATUS] == 'P' then
      return refuse(CODE.ALREADY_PAID, { subject = other })
    end
  end
end

local ctx = { capacity = capacityKey, used = usedKey, stream = streamKey, channel = channel, now = now, nowText = nowText }
local cancelled = endItemWithDependents(ctx, rec, subject, 'C', 'CANCELLED', 'BY_CANDIDATE')
if not hasLiveItem(rec) then
  rec.e = emptyDeadline
  indexDeadline(dueSetKey, dueListKey, bucketMember, bucketScore, candidateId)
end
saveRecord(registrationsKey, rec)
return ok({ cancelled = cancelled })
