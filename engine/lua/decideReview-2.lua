--[[
  School staff decide a pending CET6 review (R11): approved (→ CET6 eligible, final) or rejected.
  KEYS[1] reviews bucket  KEYS[2] account shard stream
  ARGV[1] accountId  ARGV[2] reviewId  ARGV[3] approve "1"|"0"  ARGV[4] now
  Returns ok {review}  or REVIEW_NOT_FOUND | REVIEW_NOT_PENDING
  Emits REVIEW_DECIDED (payload declared in engine/outbox.ts)
]]
local reviewsKey, streamKey = KEYS[1], KEYS[2]
local accountId, reviewId, approve = ARGV[1], ARGV[2], ARGV[3]
local nowText = ARGV[4]

--@include result
--@include events
--@include review

local review = loadReview(reviewsKey, accountId)
if review == nil or review.id ~= reviewId then return refuse(CODE.REVIEW_NOT_FOUND) end
if review.st ~= 'PENDING' then return refuse(CODE.REVIEW_NOT_PENDING) end
review.st = (approve == '1') and 'APPROVED' or 'REJECTED'
review.da = tonumber(nowText)
redis.call('HSET', reviewsKey, accountId, cjson.encode(review))
emit(streamKey, 'REVIEW_DECIDED', nowText, { reviewId = reviewId, accountId = accountId, status = review.st })
return ok({ review = review })
