--[[
  Resubmit a rejected CET6 review with a new ticket (R11); the caller decided the new match.
  KEYS[1] reviews bucket  KEYS[2] account shard stream
  ARGV[1] accountId  ARGV[2] status APPROVED|PENDING  ARGV[3] ticket  ARGV[4] candidateId
  ARGV[5] provinceCode  ARGV[6] now
  Returns ok {review}  or REVIEW_NOT_FOUND | REVIEW_APPROVED_FINAL | REVIEW_PENDING
  Emits REVIEW_EDITED (payload declared in engine/outbox.ts)
]]
local reviewsKey, streamKey = KEYS[1], KEYS[2]
local accountId, status, ticket, candidateId, provinceCode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local nowText = ARGV[6]
local now = tonumber(nowText)

--@include result
--@include events
--@include review

local review = loadReview(reviewsKey, accountId)
local refusal = reviewChangeRefusal(review)
if refusal then return refuse(refusal) end
review.st, review.tk, review.c, review.p, review.sa = status, ticket, candidateId, provinceCode, now
review.da = (status == 'APPROVED') and now or 0
redis.call('HSET', reviewsKey, accountId, cjson.encode(review))
emit(streamKey, 'REVIEW_EDITED', nowText, {
  reviewId = review.id, accountId = accountId, candidateId = candidateId, provinceCode = provinceCode,
  status = status, ticketNumber = ticket,
})
return ok({ review = review })
