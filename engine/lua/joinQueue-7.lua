--[[
  Join a province's waiting room (API.md "Waiting room"; events: engine/outbox.ts QUEUE_*).
  One ticket per account and province: an account whose ticket still holds a place gets it back
  (a refresh, a reconnect or a new login keeps the place); a lapsed one gets a new ticket at the back.
  Before the opening a new ticket is PREQUEUE (its place is drawn at the opening); after it, WAITING
  behind every PREQUEUE ticket and every earlier joiner, in arrival order. joinedAt never goes back
  (the line's own arrival clock: a request that read the clock earlier may reach Redis later).
  KEYS[1] room  KEYS[2] calendar  KEYS[3] tickets  KEYS[4] accounts  KEYS[5] prequeue list
  KEYS[6] late list  KEYS[7] stream
  ARGV[1] accountId  ARGV[2] the new ticket's id  ARGV[3] now
  Returns ok {created, ticketId, ticket, room}  or QUEUE_NOT_ACTIVE
  Emits QUEUE_JOINED, QUEUE_CLOSED (payloads declared in engine/outbox.ts)
]]
local roomKey, calendarKey, ticketsKey, accountsKey, preKey, lateKey, streamKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local accountId, newTicketId, nowText = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(nowText)

--@include result
--@include events
--@include queue

local room = loadRoom(roomKey)
local opensAt = opensAtOf(calendarKey)
if not roomActive(room, opensAt, now) then return refuse(CODE.QUEUE_NOT_ACTIVE) end
closePrequeueIfDue(room, roomKey, preKey, opensAt, now, streamKey, nowText)

local previousId = redis.call('HGET', accountsKey, accountId)
if previousId then
  local previous = loadTicket(ticketsKey, previousId)
  if previous and not ticketSpent(previous, now) then
    return ok({ created = false, ticketId = previousId, ticket = previous, room = roomView(room) })
  end
end

local joinedAt = math.max(now, room.lastJoin)
local ticket
if room.phase == 'PRE' then
  ticket = { accountId, 'P', 0, joinedAt, 0, 0 }
  redis.call('RPUSH', preKey, newTicketId)
else
  room.late = room.late + 1
  ticket = { accountId, 'W', room.n + room.late, joinedAt, 0, 0 }
  redis.call('RPUSH', lateKey, newTicketId)
end
room.lastJoin = joinedAt
redis.call('HSET', roomKey, 'late', room.late, 'lastJoin', joinedAt)
saveTicket(ticketsKey, newTicketId, ticket)
redis.call('HSET', accountsKey, accountId, newTicketId)
emit(streamKey, 'QUEUE_JOINED', nowText, {
  ticketId = newTicketId, accountId = accountId, state = ticket[T_STATE],
  seq = ticket[T_SEQ] > 0 and ticket[T_SEQ] or cjson.null, joinedAt = joinedAt,
  replaces = previousId or cjson.null,
})
return ok({ created = true, ticketId = newTicketId, ticket = ticket, room = roomView(room) })
