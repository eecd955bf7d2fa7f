/**
 * The one place that names Redis keys, the engine's and the gateway's: nothing else builds a key
 * name, and nothing derives one by cutting up another. Every key a script touches is built here and
 * passed in KEYS; all keys of one script share a hash tag, so every script runs unchanged on Redis
 * Cluster:
 *  - province shard `{pNN}`: calendar, campuses, seat counters, registrations, orders, the
 *    deadline index, the bind fence, the event stream (the outbox) and the seat channel;
 *  - account shard `{aN}`: the account side of the binding and the CET6 review (R12: per account);
 *  - beside each outbox stream, its dead-letter stream (same hash tag); the writers' and sweepers'
 *    stats hashes (engine/outbox.ts is the outbox's contract);
 *  - the gateway's own keys (`GatewayKeys`, `AuthKeys`): sessions, SMS codes, captchas, rate-limit
 *    counters, Idempotency-Key answers, the fee table, the admin clock and the shared admin stats.
 * Per-candidate data lives as fields of bucketed hashes (small listpack-encoded hashes instead of
 * one key per candidate) to keep Redis memory per candidate low (P4). Bucket counts are part of
 * the data layout: changing one needs a migration, so they are constants, not settings; so is
 * every name here (deployed data and tests depend on them byte for byte).
 */

export const REGISTRATION_BUCKETS = 4096;
export const ORDER_BUCKETS = 1024;
export const ACCOUNT_SHARDS = 16;
export const ACCOUNT_BUCKETS = 256;

/** FNV-1a, 32 bits: cheap, stable, well spread on short ids. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const PROVINCE_CODE = /^[0-9]{2}$/;
const NAMESPACE = /^[A-Za-z0-9_.:-]+$/;
const RULE_NAME = /^[A-Za-z0-9]+$/;
/** `<namespace>:{<shard tag>}:ev`; a namespace holds no brace, so the first `{` opens the tag. */
const OUTBOX_STREAM = /^([^{}]+):\{([^{}]+)\}:ev$/;

/** `namespace` separates deployments and test runs sharing one Redis (no `{` or `}` in it). */
function checkedNamespace(namespace: string): string {
  if (!NAMESPACE.test(namespace)) throw new Error(`invalid key namespace: ${namespace}`);
  return namespace;
}

function parseOutboxStream(stream: string): { readonly namespace: string; readonly tag: string } {
  const match = OUTBOX_STREAM.exec(stream);
  if (!match) throw new Error(`not an outbox stream: ${stream}`);
  return { namespace: match[1]!, tag: match[2]! };
}

export interface DueBucket {
  /** Member of the due-bucket set: the whole second the deadline falls in. */
  readonly member: string;
  /** Score: the last millisecond of that second, so a bucket is swept only when all of it is due. */
  readonly score: number;
}

/** Deadlines are indexed per whole second (R8, R22): see engine/lua/expireDue-N.lua. */
export function dueBucketOf(deadlineMs: number): DueBucket {
  const second = Math.floor(deadlineMs / 1000);
  return { member: String(second), score: second * 1000 + 999 };
}

export interface ProvinceKeys {
  readonly tag: string;
  readonly calendar: string;
  readonly campuses: string;
  readonly capacity: string;
  readonly used: string;
  readonly fence: string;
  readonly sequence: string;
  readonly dueSet: string;
  readonly stream: string;
  readonly seatChannel: string;
  registrations(candidateId: string): string;
  /** The n-th registrations bucket (0 ≤ n < REGISTRATION_BUCKETS), for full scans. */
  registrationBucket(index: number): string;
  orders(orderId: string): string;
  /** The n-th orders bucket (0 ≤ n < ORDER_BUCKETS), for full scans. */
  orderBucket(index: number): string;
  dueList(bucketMember: string): string;
  /**
   * A per-account rate-limit counter that a hold's own script counts (the `reserve` rule, issue 13,
   * P2: one script call per reservation), under the province's hash tag beside the seats it
   * guards: `ruleName` (letters and digits) for `accountId` in fixed window number `window`.
   */
  accountCounter(ruleName: string, accountId: string, window: number): string;
  /** The province's waiting room (engine/queue.ts, engine/lua/includes/queue.lua). */
  readonly queue: QueueKeys;
}

/** A province's waiting room: every key under the province's hash tag. */
export interface QueueKeys {
  /** Settings and the line's counters (a hash). */
  readonly room: string;
  /** Tickets by id (MessagePack arrays). */
  readonly tickets: string;
  /** Account id → its ticket id. */
  readonly accounts: string;
  /** PREQUEUE ticket ids in join order (the draw's input). */
  readonly prequeue: string;
  /** Drawn ticket ids, seq 1..n. */
  readonly drawn: string;
  /** Ticket ids that joined after the opening, seq n+1.., arrival order. */
  readonly late: string;
  /** Active candidates: ticket id → when its slot is given back. */
  readonly slots: string;
  /** Admitted passes: ticket id → when the pass lapses. */
  readonly passes: string;
  /** Where the room's changes are published (positions and ETAs for /ws/seats). */
  readonly channel: string;
  /** Held by the one queue keeper ticking this room. */
  readonly keeperLease: string;
}

export interface AccountKeys {
  readonly tag: string;
  readonly claims: string;
  readonly reviews: string;
  readonly stream: string;
}

export class KeySpace {
  /** Built once per province: every engine call needs them, and allocation is the hot path's cost. */
  private readonly provinces = new Map<string, ProvinceKeys>();

  /** Hash of the stream writers' stats (field = consumer, value = JSON WriterStats + updatedAt). */
  readonly writerStats: string;
  /** Hash of the sweepers' stats (field = sweeper name, value = JSON SweeperStats + updatedAt). */
  readonly sweeperStats: string;
  /** Set of the province codes that have a waiting room (the queue keeper's work list). */
  readonly queueRooms: string;
  /** Hash of the gateway threads' load reports (field = thread, value = JSON ThreadLoad). */
  readonly gatewayLoad: string;

  /** `namespace` separates deployments and test runs sharing one Redis (no `{` or `}` in it). */
  constructor(readonly namespace = 'cet') {
    checkedNamespace(namespace);
    this.writerStats = `${namespace}:writer:stats`;
    this.sweeperStats = `${namespace}:sweeper:stats`;
    this.queueRooms = `${namespace}:queue:rooms`;
    this.gatewayLoad = `${namespace}:gw:load`;
  }

  /** The key space an outbox stream name belongs to, for code handed only stream names. */
  static ofStream(stream: string): KeySpace {
    return new KeySpace(parseOutboxStream(stream).namespace);
  }

  /** `<namespace>:{<tag>}`: the prefix of every key of one shard. */
  private shard(tag: string): string {
    return `${this.namespace}:{${tag}}`;
  }

  province(code: string): ProvinceKeys {
    let keys = this.provinces.get(code);
    if (!keys) {
      keys = this.buildProvince(code);
      this.provinces.set(code, keys);
    }
    return keys;
  }

  private buildProvince(code: string): ProvinceKeys {
    if (!PROVINCE_CODE.test(code)) throw new Error(`invalid province code: ${code}`);
    const base = this.shard(`p${code}`);
    return {
      tag: `{p${code}}`,
      calendar: `${base}:cal`,
      campuses: `${base}:campus`,
      capacity: `${base}:cap`,
      used: `${base}:used`,
      fence: `${base}:fence`,
      sequence: `${base}:seq`,
      dueSet: `${base}:due`,
      stream: `${base}:ev`,
      seatChannel: `${base}:seats`,
      registrations: (candidateId) => `${base}:reg:${fnv1a32(candidateId) % REGISTRATION_BUCKETS}`,
      registrationBucket: (index) => `${base}:reg:${index}`,
      orders: (orderId) => `${base}:ord:${fnv1a32(orderId) % ORDER_BUCKETS}`,
      orderBucket: (index) => `${base}:ord:${index}`,
      dueList: (bucketMember) => `${base}:due:${bucketMember}`,
      accountCounter: (ruleName, accountId, window) => {
        if (!RULE_NAME.test(ruleName)) throw new Error(`invalid rate-limit rule name: ${ruleName}`);
        return `${base}:rl:${ruleName}:${accountId}:${window}`;
      },
      queue: {
        room: `${base}:q:room`,
        tickets: `${base}:q:tk`,
        accounts: `${base}:q:ac`,
        prequeue: `${base}:q:pre`,
        drawn: `${base}:q:draw`,
        late: `${base}:q:late`,
        slots: `${base}:q:slots`,
        passes: `${base}:q:pass`,
        channel: `${base}:q:ch`,
        keeperLease: `${base}:q:lease`,
      },
    };
  }

  accountShardOf(accountId: string): number {
    return fnv1a32(accountId) % ACCOUNT_SHARDS;
  }

  account(accountId: string): AccountKeys {
    const hash = fnv1a32(accountId);
    const shard = hash % ACCOUNT_SHARDS;
    const base = this.shard(`a${shard}`);
    const bucket = Math.floor(hash / ACCOUNT_SHARDS) % ACCOUNT_BUCKETS;
    return {
      tag: `{a${shard}}`,
      claims: `${base}:bind:${bucket}`,
      reviews: `${base}:rev:${bucket}`,
      stream: this.accountStream(shard),
    };
  }

  /** The outbox stream of account shard `shard` (0 ≤ shard < ACCOUNT_SHARDS). */
  accountStream(shard: number): string {
    return `${this.shard(`a${shard}`)}:ev`;
  }

  /** Every outbox stream (the writer drains them all). */
  allStreams(provinceCodes: readonly string[]): string[] {
    const streams = provinceCodes.map((code) => this.province(code).stream);
    for (let shard = 0; shard < ACCOUNT_SHARDS; shard++) streams.push(this.accountStream(shard));
    return streams;
  }

  /** The dead-letter stream of one of this key space's outbox streams: same hash tag. */
  deadLetters(stream: string): string {
    const { namespace, tag } = parseOutboxStream(stream);
    if (namespace !== this.namespace)
      throw new Error(`${stream} is not an outbox stream of ${this.namespace}`);
    return `${this.shard(tag)}:dead`;
  }

  /** Pattern that matches every province's seat channel (for PSUBSCRIBE). */
  seatChannelPattern(): string {
    return `${this.namespace}:{p*}:seats`;
  }

  /** Pattern that matches every province's waiting-room channel (for PSUBSCRIBE). */
  queueChannelPattern(): string {
    return `${this.namespace}:{p*}:q:ch`;
  }
}

/** The dead-letter stream of any outbox stream (same namespace and hash tag). */
export function deadLetterStreamOf(stream: string): string {
  return KeySpace.ofStream(stream).deadLetters(stream);
}

// ------------------------------------------------------------------------------ gateway keys

/** The gateway's keys outside the auth module: one key each, no script spans two of them. */
export class GatewayKeys {
  /** The admin clock's offset from the system clock (TEST_MODE; gateway/clock.ts DrivenClock). */
  readonly clock: string;
  /** Subject fees (a hash, gateway/fees.ts). */
  readonly fees: string;
  /** The persisted part of GET /api/v1/admin/stats, shared by every gateway for a few seconds. */
  readonly adminStatsPersisted: string;
  /** Held by the one gateway computing it. */
  readonly adminStatsPersistedLock: string;

  constructor(readonly namespace = 'cet') {
    checkedNamespace(namespace);
    this.clock = `${namespace}:clock:offset`;
    this.fees = `${namespace}:fees`;
    this.adminStatsPersisted = `${namespace}:admin:stats:persisted`;
    this.adminStatsPersistedLock = `${this.adminStatsPersisted}:lock`;
  }

  /** The stored answer of an Idempotency-Key: `digest` is a hash of the key, never the key itself. */
  idempotency(scope: string, digest: string): string {
    return `${this.namespace}:idem:${scope}:${digest}`;
  }

  /**
   * A fixed-window rate-limit counter. A subject in braces (an account's `accountHashTag`) is the
   * key's hash tag: the counter lives in the same cluster slot as that account's sessions.
   */
  rateCounter(ruleName: string, subject: string, window: number): string {
    return `${this.namespace}:rl:${ruleName}:${subject}:${window}`;
  }
}

export interface SmsKeys {
  /** The pending code and its failed-attempt count (a hash). */
  readonly code: string;
  /** Present while the phone may not be sent another code (minimum interval). */
  readonly interval: string;
  /** Codes sent in the current day window. */
  readonly daily: string;
}

/**
 * The hash tag of an account's sessions and of its rate-limit counters, so that the session check
 * and the account's counters are one script call (gateway/auth/sessions.ts `authorize`), on Redis
 * Cluster too. Not the engine's account shard (`{aN}`): one slot per account spreads the hot path.
 * `accountId` is a positive integer (digits only, so safe inside a hash tag).
 */
export function accountHashTag(accountId: string): string {
  return `{acct:${accountId}}`;
}

/**
 * The hash tag of the failure counters of a login that names no account: `loginDigest` is a keyed
 * digest of the login name (lower-case hex, gateway/auth/loginFailures.ts), never the login itself
 * (an unkeyed hash of a phone number is reversed by trying every number). A login that names an
 * account counts under the account's own tag (`accountHashTag`).
 */
export function unknownLoginHashTag(loginDigest: string): string {
  if (!/^[0-9a-f]{16,64}$/.test(loginDigest)) throw new Error('a login digest is 16 to 64 hex digits');
  return `{login:${loginDigest}}`;
}

/**
 * Accounts and sessions. Every operation touches one key, except SMS sending (code, last-sent and
 * daily counter), whose keys share the phone as hash tag so its script runs unchanged on Redis
 * Cluster, and a session, which shares its account's hash tag with the account's rate-limit
 * counters (gateway/auth/sessions.ts `authorize`), and a login attempt, whose two failure counters
 * share the hash tag of what the login names. Keys never hold a password or a token: a session is
 * keyed by the SHA-256 of its token.
 */
export class AuthKeys {
  /**
   * The pub/sub channel on which revoked sessions' cache entry names are published (one message
   * may name several, a line each), so that every gateway thread's session cache forgets them
   * (gateway/auth/sessionCache.ts). A channel, not a key: PUBLISH reaches every node of a cluster.
   */
  readonly sessionRevocations: string;

  constructor(readonly namespace = 'cet') {
    checkedNamespace(namespace);
    this.sessionRevocations = `${namespace}:auth:session:revoked`;
  }

  captcha(captchaId: string): string {
    return `${this.namespace}:auth:captcha:${captchaId}`;
  }

  /** `phone` must already match PHONE_PATTERN (digits only, so safe inside a hash tag). */
  sms(phone: string): SmsKeys {
    const base = `${this.namespace}:auth:sms:{${phone}}`;
    return { code: `${base}:code`, interval: `${base}:interval`, daily: `${base}:daily` };
  }

  /** A session's cache entry, under its account's hash tag (`accountHashTag`). */
  session(accountId: string, tokenHashHex: string): string {
    return `${this.namespace}:auth:session:${accountHashTag(accountId)}:${tokenHashHex}`;
  }

  /**
   * The sorted set of an account's live sessions (token hash → creation time), beside their cache
   * entries under the account's hash tag: the per-account session quota (issue 16 item 2).
   */
  liveSessions(accountId: string): string {
    return `${this.namespace}:auth:sessions:${accountHashTag(accountId)}`;
  }

  /**
   * The cache entry of a session whose token does not name its account (issued before tokens did;
   * honoured until it expires): the token hash is its hash tag.
   */
  legacySession(tokenHashHex: string): string {
    return `${this.namespace}:auth:session:{${tokenHashHex}}`;
  }

  /**
   * A login's failures from one client address (a hash: failures, last), under the hash tag of
   * what the login names (`accountHashTag` or `unknownLoginHashTag`), beside its failures from every
   * address (`loginFailuresOfSubject`): one script call reads and counts both (issue 16 item 1).
   */
  loginFailures(subjectTag: string, address: string): string {
    return `${this.namespace}:auth:lf:${subjectTag}:ip:${address}`;
  }

  /** A login's failures from every client address over a window (a counter). */
  loginFailuresOfSubject(subjectTag: string): string {
    return `${this.namespace}:auth:lf:${subjectTag}`;
  }

  /** Set once an account has a bound phone and the accepted agreement (both are permanent). */
  registrationReady(accountId: string): string {
    return `${this.namespace}:auth:ready:${accountId}`;
  }
}
