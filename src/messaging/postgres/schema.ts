/**
 * The tables, functions and statements of the PostgreSQL bus, all in one
 * schema and prefixed `flotilla_bus_`, so they can share a schema with the
 * PostgreSQL store. Payloads are `json` (the text as written, so every JSON
 * value round-trips); times are wall-clock ms of the bus's clock as `double
 * precision` (exact for integers, and a fake clock may give fractions).
 */

import { createHash } from 'node:crypto'
import { defineDomain } from '../../db/migrations.js'
import { quoteIdent, quoteLiteral } from '../../db/postgres/ident.js'
import type { PostgresStep } from '../../db/postgres/migrate.js'

/** Statement names are per connection; the hash keeps two schemas on one pool apart. */
function tag(schema: string): string {
  return createHash('sha1').update(schema).digest('hex').slice(0, 10)
}

/**
 * The NOTIFY channel of a schema's bus. Channel names are identifiers (at
 * most 63 bytes), so a long schema name is replaced by its hash.
 */
export function channelOf(schema: string): string {
  const plain = `flotilla_bus_${schema}`
  return plain.length <= 63 ? plain : `flotilla_bus_${createHash('sha1').update(schema).digest('hex')}`
}

/**
 * The tables and functions of the bus, as Flotilla 0.1 created them on every
 * open: each statement creates only what is absent (`IF NOT EXISTS`,
 * `CREATE OR REPLACE`), so this baseline migration accepts a schema where
 * they already are.
 *
 * @param s The quoted schema name.
 * @param schemaName The schema name (the key of the mailbox locks).
 */
function busTables(s: string, schemaName: string): string {
  const lockKey = `hashtext('flotilla_bus:' || ${quoteLiteral(schemaName)})`
  return `
-- Mailboxes. seq gives the order (per sender and receiver: the lane); a lease sets visible_at in the future.
CREATE TABLE IF NOT EXISTS ${s}.flotilla_bus_messages (
  seq bigserial PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  sender text COLLATE "C" NOT NULL,
  receiver text COLLATE "C" NOT NULL,
  body json NOT NULL,
  headers json NOT NULL,
  attempt integer NOT NULL DEFAULT 0,
  visible_at double precision NOT NULL DEFAULT 0,
  sent_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS flotilla_bus_messages_lane ON ${s}.flotilla_bus_messages (receiver, sender, seq);
CREATE INDEX IF NOT EXISTS flotilla_bus_messages_box ON ${s}.flotilla_bus_messages (receiver, seq);
-- Messages delivered at least once: leased, or waiting for redelivery or the dead letters. Usually few.
CREATE INDEX IF NOT EXISTS flotilla_bus_messages_leased ON ${s}.flotilla_bus_messages (receiver, visible_at) WHERE attempt > 0;
CREATE TABLE IF NOT EXISTS ${s}.flotilla_bus_dead_letters (
  seq bigserial PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  sender text COLLATE "C" NOT NULL,
  receiver text COLLATE "C" NOT NULL,
  body json NOT NULL,
  headers json NOT NULL,
  attempt integer NOT NULL,
  sent_at double precision NOT NULL,
  dead_at double precision NOT NULL,
  reason text NOT NULL
);
CREATE INDEX IF NOT EXISTS flotilla_bus_dead_letters_box ON ${s}.flotilla_bus_dead_letters (receiver, seq);
-- Requests waiting for a responder; the responder deletes the row it answers.
CREATE TABLE IF NOT EXISTS ${s}.flotilla_bus_requests (
  seq bigserial PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  requester text COLLATE "C" NOT NULL,
  sender text COLLATE "C" NOT NULL,
  receiver text COLLATE "C" NOT NULL,
  body json NOT NULL,
  headers json NOT NULL,
  sent_at double precision NOT NULL,
  expires_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS flotilla_bus_requests_box ON ${s}.flotilla_bus_requests (receiver, seq);
-- Notifications over the NOTIFY payload limit: the text is stored here and its id notified.
CREATE TABLE IF NOT EXISTS ${s}.flotilla_bus_payloads (
  id text COLLATE "C" PRIMARY KEY,
  body text NOT NULL,
  created_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS flotilla_bus_payloads_age ON ${s}.flotilla_bus_payloads (created_at);

-- Moves the messages of a mailbox whose last lease ended after p_max deliveries to the dead letters.
CREATE OR REPLACE FUNCTION ${s}.flotilla_bus_sweep(p_receiver text, p_now double precision, p_max integer)
RETURNS void LANGUAGE sql VOLATILE AS $fn$
  WITH dead AS (
    DELETE FROM ${s}.flotilla_bus_messages m
     WHERE m.receiver = p_receiver AND m.attempt > 0 AND m.attempt >= p_max AND m.visible_at <= p_now
    RETURNING m.*
  )
  INSERT INTO ${s}.flotilla_bus_dead_letters (id, sender, receiver, body, headers, attempt, sent_at, dead_at, reason)
  SELECT d.id, d.sender, d.receiver, d.body, d.headers, d.attempt, d.sent_at, p_now,
         format('Delivered %s times without acknowledgement (maxDeliveries %s).', d.attempt, p_max)
    FROM dead d ORDER BY d.seq
$fn$;

-- Leases up to p_limit messages of a mailbox, oldest first. The advisory lock serialises the receivers
-- of one mailbox, and each statement of a VOLATILE function takes a new snapshot, so the scan sees the
-- leases committed by the previous holder. The scan walks the mailbox in order (a cursor: fast start on
-- the (receiver, seq) index, stopping at p_limit) and, like the memory adapter, skips every message of a
-- sender once one of its messages is leased: a sender's later message never overtakes a leased one.
CREATE OR REPLACE FUNCTION ${s}.flotilla_bus_receive(p_receiver text, p_now double precision, p_lease double precision, p_max integer, p_limit integer)
RETURNS TABLE (id text, sender text, body text, headers text, attempt integer, sent_at double precision)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  blocked text[] := '{}';
  picked bigint[] := '{}';
BEGIN
  PERFORM pg_advisory_xact_lock(${lockKey}, hashtext(p_receiver));
  PERFORM ${s}.flotilla_bus_sweep(p_receiver, p_now, p_max);
  FOR r IN SELECT m.seq, m.sender, m.visible_at FROM ${s}.flotilla_bus_messages m WHERE m.receiver = p_receiver ORDER BY m.receiver, m.seq LOOP
    IF r.sender = ANY (blocked) THEN
      CONTINUE;
    ELSIF r.visible_at > p_now THEN
      blocked := blocked || r.sender;
    ELSE
      picked := picked || r.seq;
      EXIT WHEN cardinality(picked) >= p_limit;
    END IF;
  END LOOP;
  IF cardinality(picked) = 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH upd AS (
    UPDATE ${s}.flotilla_bus_messages m SET attempt = m.attempt + 1, visible_at = p_now + p_lease
     WHERE m.seq = ANY (picked)
    RETURNING m.seq, m.id, m.sender, m.body::text AS body, m.headers::text AS headers, m.attempt, m.sent_at
  )
  SELECT u.id, u.sender, u.body, u.headers, u.attempt, u.sent_at FROM upd u ORDER BY u.seq;
END
$fn$;

-- When the mailbox next holds a receivable message: p_now when one is receivable now, else the end of
-- the earliest lease that blocks a sender's lane; NULL for an empty mailbox.
CREATE OR REPLACE FUNCTION ${s}.flotilla_bus_next(p_receiver text, p_now double precision)
RETURNS double precision LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  r record;
  blocked text[] := '{}';
  earliest double precision;
BEGIN
  FOR r IN SELECT m.sender, m.visible_at FROM ${s}.flotilla_bus_messages m WHERE m.receiver = p_receiver ORDER BY m.receiver, m.seq LOOP
    IF r.sender = ANY (blocked) THEN
      CONTINUE;
    ELSIF r.visible_at > p_now THEN
      blocked := blocked || r.sender;
      earliest := least(earliest, r.visible_at);
    ELSE
      RETURN p_now;
    END IF;
  END LOOP;
  RETURN earliest;
END
$fn$;
`
}

/**
 * The bus's domain for the driver's migrator: its migrations, oldest first
 * (version 1 is the baseline of Flotilla 0.1's tables). Not exclusive: its
 * objects all start with `flotilla_bus_`, so a bus may share a schema with
 * other programs' tables (a store may not).
 */
export const BUS_DOMAIN = defineDomain<PostgresStep>(
  'bus',
  [{ version: 1, name: 'messages, dead letters, requests, payloads; receive, sweep, next', up: busTables }],
  { exclusive: false },
)

/** A named statement: prepared once per connection. */
export interface Statement {
  readonly name: string
  readonly text: string
}

/** The statements of one schema's bus. */
export interface Statements {
  /** $1 id, $2 sender, $3 receiver, $4 body, $5 headers, $6 sent_at, $7 channel, $8 notification. */
  send: Statement
  /** $1 ids[], $2 sender, $3 receivers[], $4 body, $5 headers, $6 sent_at, $7 channel, $8 notifications[]. */
  broadcast: Statement
  /** $1 receiver, $2 now, $3 lease ms, $4 max deliveries, $5 limit. */
  receive: Statement
  /** $1 receiver, $2 id, $3 channel, $4 notification, $5 now; returns n, and notifies when the lane's next message is now receivable. */
  ack: Statement
  /** $1 receiver, $2 now, $3 max deliveries. */
  sweep: Statement
  /** $1 receiver. */
  deadLetters: Statement
  /** $1 receiver, $2 id, $3 channel, $4 notification. */
  replay: Statement
  /** $1 receiver, $2 now: when the mailbox next holds a receivable message (NULL when empty). */
  nextVisible: Statement
  /** $1 channel, $2 notification. */
  notify: Statement
  /** $1 channel, $2 notification, $3 payload id, $4 payload text, $5 now, $6 delete payloads older than this. */
  notifyStored: Statement
  /** $1 payload id. */
  payload: Statement
  /** $1 payload id. */
  dropPayload: Statement
  /** $1 id, $2 requester, $3 sender, $4 receiver, $5 body, $6 headers, $7 sent_at, $8 expires_at, $9 channel, $10 notification. */
  request: Statement
  /** $1 receiver, $2 limit. */
  claimRequests: Statement
  /** $1 ids[]. */
  dropRequests: Statement
}

/** Builds the statements of the bus in `schemaName`. */
export function statements(schemaName: string): Statements {
  const s = quoteIdent(schemaName)
  const t = tag(schemaName)
  const st = (name: string, text: string): Statement => ({ name: `flotilla_bus_${t}_${name}`, text })
  const messages = `${s}.flotilla_bus_messages`
  const dead = `${s}.flotilla_bus_dead_letters`
  const requests = `${s}.flotilla_bus_requests`
  const payloads = `${s}.flotilla_bus_payloads`
  return {
    send: st(
      'send',
      `WITH ins AS (INSERT INTO ${messages} (id, sender, receiver, body, headers, sent_at) VALUES ($1, $2, $3, $4::json, $5::json, $6) RETURNING 1)
       SELECT pg_notify($7, $8) FROM ins`,
    ),
    broadcast: st(
      'broadcast',
      `WITH ins AS (
         INSERT INTO ${messages} (id, sender, receiver, body, headers, sent_at)
         SELECT t.id, $2, t.receiver, $4::json, $5::json, $6 FROM unnest($1::text[], $3::text[]) WITH ORDINALITY AS t(id, receiver, o) ORDER BY t.o
         RETURNING 1)
       SELECT (SELECT count(*) FROM ins)::int AS n, (SELECT count(*) FROM (SELECT pg_notify($7, p) FROM unnest($8::text[]) p) x)::int AS notified`,
    ),
    receive: st(
      'receive',
      `SELECT id, sender, body, headers, attempt, sent_at FROM ${s}.flotilla_bus_receive($1, $2, $3, $4, $5)`,
    ),
    ack: st(
      'ack',
      `WITH d AS (DELETE FROM ${messages} WHERE receiver = $1 AND id = $2 RETURNING sender, seq),
       w AS (SELECT pg_notify($3, $4) FROM d
              WHERE (SELECT m.visible_at <= $5 FROM ${messages} m
                      WHERE m.receiver = $1 AND m.sender = d.sender AND m.seq <> d.seq ORDER BY m.seq LIMIT 1))
       SELECT (SELECT count(*) FROM d)::int AS n, (SELECT count(*) FROM w)::int AS woke`,
    ),
    sweep: st('sweep', `SELECT ${s}.flotilla_bus_sweep($1, $2, $3)`),
    deadLetters: st(
      'dead_letters',
      `SELECT id, sender, body::text AS body, headers::text AS headers, attempt, sent_at, dead_at, reason FROM ${dead} WHERE receiver = $1 ORDER BY seq`,
    ),
    replay: st(
      'replay',
      `WITH d AS (DELETE FROM ${dead} WHERE receiver = $1 AND id = $2 RETURNING *),
       i AS (INSERT INTO ${messages} (id, sender, receiver, body, headers, sent_at) SELECT id, sender, receiver, body, headers, sent_at FROM d RETURNING 1)
       SELECT (SELECT count(*) FROM i)::int AS n, (SELECT count(*) FROM (SELECT pg_notify($3, $4) FROM i) x)::int AS notified`,
    ),
    nextVisible: st('next_visible', `SELECT ${s}.flotilla_bus_next($1, $2) AS next`),
    notify: st('notify', `SELECT pg_notify($1, $2)`),
    notifyStored: st(
      'notify_stored',
      `WITH ins AS (INSERT INTO ${payloads} (id, body, created_at) VALUES ($3, $4, $5) RETURNING 1),
       old AS (DELETE FROM ${payloads} WHERE created_at < $6 RETURNING 1)
       SELECT pg_notify($1, $2) FROM ins`,
    ),
    payload: st('payload', `SELECT body FROM ${payloads} WHERE id = $1`),
    dropPayload: st('drop_payload', `DELETE FROM ${payloads} WHERE id = $1`),
    request: st(
      'request',
      `WITH ins AS (INSERT INTO ${requests} (id, requester, sender, receiver, body, headers, sent_at, expires_at)
                    VALUES ($1, $2, $3, $4, $5::json, $6::json, $7, $8) RETURNING 1)
       SELECT pg_notify($9, $10) FROM ins`,
    ),
    claimRequests: st(
      'claim_requests',
      `WITH d AS (
         DELETE FROM ${requests} WHERE seq IN (SELECT seq FROM ${requests} WHERE receiver = $1 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING seq, id, requester, sender, body::text AS body, headers::text AS headers, sent_at, expires_at)
       SELECT id, requester, sender, body, headers, sent_at, expires_at FROM d ORDER BY seq`,
    ),
    dropRequests: st('drop_requests', `DELETE FROM ${requests} WHERE id = ANY ($1::text[])`),
  }
}
