--[[
  Step 2 of the binding, on the province shard: "save and continue" (R6) binds the candidate to
  the account, snapshots the school record (R7) and starts the empty-registration deadline (R8).
  KEYS[1] registrations bucket  KEYS[2] calendar  KEYS[3] fence  KEYS[4] due set
  KEYS[5] due list of the empty deadline  KEYS[6] stream
  KEYS[7] queue room  KEYS[8] queue tickets  KEYS[9] queue accounts  KEYS[10] queue slots
  ARGV[1] candidateId  ARGV[2] accountId  ARGV[3] token  ARGV[4] now  ARGV[5] written campusId
  ARGV[6] snapshot JSON  ARGV[7] empty deadline  ARGV[8] its due bucket member  ARGV[9] its score
  ARGV[10] queue idle ms
  Returns ok {record, replay}
       or REGISTRATION_NOT_OPEN | REGISTRATION_CLOSED (R5) | CANDIDATE_ALREADY_BOUND (I2)
       or QUEUE_PASS_REQUIRED {ticketId?, ticket?, room} (the province's waiting room is active)
       or BIND_ABORTED (the token was fenced by a recovery)
  Emits BOUND (payload declared in engine/outbox.ts)
]]
local registrationsKey, calendarKey, fenceKey, dueSetKey, dueListKey, streamKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local candidateId, accountId, token = ARGV[1], ARGV[2], ARGV[3]
local nowText = ARGV[4]
local now = tonumber(nowText)
local campusId, snapshotJson = ARGV[5], ARGV[6]
local emptyDeadline, bucketMember, bucketScore = tonumber(ARGV[7]), ARGV[8], ARGV[9]
local roomKey, ticketsKey, queueAccountsKey, slotsKey = KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local idleMs = tonumber(ARGV[10])

--@include result
--@include record
--@include window
--@include events
--@include deadlines
--@include queue

if redis.call('HEXISTS', fenceKey, token) == 1 then return refuse(CODE.BIND_ABORTED) end

local existing = loadRecord(registrationsKey, candidateId)
if existing then
  if existing.a == accountId and existing.k == token then
    return ok({ record = existing, replay = true })
  end
  return refuse(CODE.CANDIDATE_ALREADY_BOUND)
end

local closed = windowRefusal(calendarKey, now)
if closed then return refuse(closed) end
local noPass = passRefusal(roomKey, calendarKey, ticketsKey, queueAccountsKey, slotsKey, accountId, now, idleMs)
if noPass then return refuse(CODE.QUEUE_PASS_REQUIRED, noPass) end

local rec = {
  c = candidateId, a = accountId, k = token, w = campusId, t = now, e = emptyDeadline,
  s = cjson.decode(snapshotJson), i = {},
}
saveRecord(registrationsKey, rec)
indexDeadline(dueSetKey, dueListKey, bucketMember, bucketScore, candidateId)
emit(streamKey, 'BOUND', nowText, {
  candidateId = candidateId, accountId = accountId, campusId = campusId, snapshot = rec.s,
  savedAt = now, deleteAt = emptyDeadline,
})
return ok({ record = rec, replay = false })
