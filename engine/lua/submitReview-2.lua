--[[
  Store an accepted CET6 review application (R10): APPROVED at once (ticket + ID number matched)
  or PENDING (ticket + name matched). The caller decided the match; a refusal is never stored.
  KEYS[1] reviews bucket of the account shard  KEYS[2] account shard stream
  ARGV[1] accountId  ARGV[2] reviewId  ARGV[3] status APPROVED|PENDING  ARGV[4] ticket
  ARGV[5] candidateId  ARGV[6] provinceCode  ARGV[7] now
  Returns ok {review}  or REVIEW_APPROVED_FINAL | REVIEW_EXISTS (R12)
  Emits REVIEW_SUBMITTED (payload declared in engine/outbox.ts)
]]
local reviewsKey, streamKey = KEYS[1], KEYS[2]
local accountId, reviewId, status, ticket, candidateId, provinceCode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local nowText = ARGV[7]
local now = tonumber(nowText)

--@include result
--@include events
--@include review

local existing = loadReview(reviewsKey, accountId)
if existing then
  if existing.st == 'APPROVED' then return refuse(CODE.REVIEW_APPROVED_FINAL) end
  return refuse(CODE.REVIEW_EXISTS)
end
local decidedAt = (status == 'APPROVED') and now or 0
local review = { id = reviewId, st = status, tk = ticket, c = candidateId, p = provinceCode, sa = now, da = decidedAt }
redis.call('HSET', reviewsKey, accountId, cjson.encode(review))
emit(streamKey, 'REVIEW_SUBMITTED', nowText, {
  reviewId = reviewId, accountId = accountId, candidateId = candidateId, provinceCode = provinceCode,
  status = status, ticketNumber = ticket,
})
return ok({ review = review })
