import http from 'node:http'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../src/core/errors.js'
import { openBackend, type Backend } from '../../src/orchestrator/backend.js'
import type { ApiRoute } from '../../src/server/api-route.js'
import { API_ROUTES } from '../../src/server/routes/index.js'
import { startServer, type RunningServer } from '../../src/server/serve.js'
import { InProcessRuntime } from '../../src/runtimes/inprocess/inprocess-runtime.js'
import { AGENT_MODULES, AGENT_WORKSPACE } from '../helpers/api-samples.js'
import { WorkflowCatalog } from '../../src/server/workflow-catalog.js'
import type { Logger } from '../../src/telemetry/telemetry.js'
import { workflow } from '../../src/workflows/builder.js'
import { routeLabel, routeParams, SAMPLE_BODIES, takesBody } from '../helpers/api-samples.js'
import { rawRequest, type RawResponse } from '../helpers/raw-http.js'

/**
 * Property-based fuzzing of every route of the HTTP API over real HTTP with
 * an ADMIN key (so requests get past authorization to validation):
 * malformed JSON, wrong types, missing and unknown fields, bodies over the
 * limit, huge strings, deep nesting, odd encodings, hostile path ids, wrong
 * content types and methods, bad query values, bad keys and headers.
 *
 * The property of every answer: no 5xx, and every 4xx is JSON
 * `{ error: { code, message, details } }` with a code of ERROR_CODES. The
 * failures of known, reported bugs are counted apart (see KNOWN_BUGS; the
 * `known bugs` tests reproduce each); FLOTILLA_FUZZ_STRICT=1 counts them
 * as failures too. FLOTILLA_FUZZ_SEED replays a run; FLOTILLA_FUZZ_TOTAL sets its size.
 */

const CONCURRENCY = 16
/** Requests in all (a multiple of CONCURRENCY); FLOTILLA_FUZZ_TOTAL sends more or fewer. */
const TOTAL = Math.ceil(Number(process.env.FLOTILLA_FUZZ_TOTAL ?? 10_000) / CONCURRENCY) * CONCURRENCY
const SEED = Number(process.env.FLOTILLA_FUZZ_SEED ?? 20_260_101)
const STRICT = process.env.FLOTILLA_FUZZ_STRICT === '1'
const MAX_BODY = 1024 * 1024

const KINDS = [
  'valid',
  'malformed-json',
  'wrong-types',
  'missing-fields',
  'unknown-fields',
  'random-json',
  'huge-body',
  'huge-string',
  'odd-encoding',
  'deep-nesting',
  'hostile-path',
  'content-type',
  'bad-query',
  'wrong-method',
  'bad-auth',
  'odd-headers',
] as const
type Kind = (typeof KINDS)[number]
const BODY_KINDS: ReadonlySet<Kind> = new Set([
  'malformed-json',
  'wrong-types',
  'missing-fields',
  'unknown-fields',
  'huge-body',
  'huge-string',
  'odd-encoding',
  'deep-nesting',
  'content-type',
])

/** A request to send; the body is built when sent (huge ones are not kept). */
interface FuzzRequest {
  readonly kind: Kind
  readonly route: string
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: () => Buffer
  readonly chunked?: boolean
  /** What the body is, for the report (the body itself may be megabytes). */
  readonly about: string
}

/** A failure of the property. */
interface Violation {
  readonly signature: string
  readonly request: FuzzRequest
  readonly status: number
  readonly text: string
  readonly cause?: string
}

/**
 * Bugs a 5xx may be set aside under (its logged cause matches), while one is
 * reported and not yet fixed. Empty: every 5xx fails the property. The four
 * this test found (malformed JSON, a non-JSON content type, a null body on
 * cancel/rotate, deeply nested JSON) are fixed; the tests named after them
 * below keep them fixed.
 */
const KNOWN_BUGS: readonly { id: string; cause: RegExp }[] = []

// ---------------------------------------------------------------- generators

const TRAVERSAL = [
  '..%2F..%2Fetc%2Fpasswd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%5C..%5Cwindows%5Cwin.ini',
  '%252e%252e%252fetc%252fpasswd',
  '..%252F..%252Fetc',
  '%2F',
  '%2F%2F',
  'a%2Fb',
  'a%2F..%2Fb',
  '..',
  '.',
  '%2e',
  '%2e%2e',
  '...',
  '%00',
  'run%00.json',
  '%FF',
  '%C0%AE%C0%AE%2F',
  '%E0%A4%A',
  '%',
  '%%',
  '%zz',
  '%u002e%u002e',
  '....%2F%2F',
  '%0d%0aSet-Cookie:%20x=1',
  '%20',
  '~',
  '%7B%7D',
  '*',
  '**',
  '%2A',
  '{id}',
  '__proto__',
  'constructor',
  'ip:..%2F..%2F',
  'key:%00',
  'ip:127.0.0.1%2F..',
  'key:' + 'a'.repeat(150),
  '%E2%80%AE' + 'gpj.exe',
  '%F0%9F%92%A5',
  '%ED%A0%80',
]

const BAD_QUERY_VALUES = [
  '',
  '-1',
  '0',
  '-0',
  '1.5',
  'abc',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e400',
  '1e21',
  '0x10',
  '0b1',
  '%201',
  '1%20',
  '%FF',
  '%00',
  '%',
  '9'.repeat(400),
  'true',
  'null',
  '%5B%5D',
  '%7B%7D',
  'RUNNING%2C',
  '%2C',
  'running%2C%00',
  '1:a',
  '99999999999999999:a',
  '1:' + 'a'.repeat(300),
  'x'.repeat(700),
  '%E2%80%AE',
  '%F0%9F%92%A5',
  '*',
  'workflow:%7Ba%2Cb',
  '%5B',
]

const MALFORMED_JSON = [
  '{',
  '}',
  '{"a":',
  '{"a":1,}',
  "{'a':1}",
  '[1,2',
  'nul',
  'undefined',
  'NaN',
  '{"a":NaN}',
  '{"a":1}{"b":2}',
  '\ufeff{}',
  '{"a":"\\x41"}',
  '{"a":"\\u12"}',
  '"unterminated',
  '{"a":01}',
  '//\n{}',
  '{"a":1e}',
  '',
  ' ',
  '\u0000',
  '{"\u0000":1}',
  '{"a":"\u0001"}',
  '{"a":"line\nbreak"}',
  'null',
  'true',
  '0',
  '"text"',
  '[]',
]

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/vnd.api+json',
  'application/json, text/plain',
  'application/jsonx',
  '*/*',
  'json',
  '',
]

const ODD_STRINGS = [
  '\u0000',
  'a\u0000b',
  '\u202egnp.exe',
  '\u200f\u202b\u05e9\u05dc\u05d5\u05dd',
  '💥',
  '👩‍👩‍👧‍👦',
  '\ud800',
  '\udfff',
  'a\ud83d',
  '\ufeff',
  '\u200b',
  'é', // e + combining accent
  '\u2028\u2029',
  '\r\n',
  '${x}',
  "'; DROP TABLE runs; --",
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00',
]

const INVALID_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
  [0x80],
]

/** Percent-encodes the UTF-8 bytes of `s` (lone surrogates become U+FFFD). */
const encodeBytes = (bytes: Uint8Array) =>
  Array.from(bytes, (b) =>
    /[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`,
  ).join('')
const encodeText = (s: string) => encodeBytes(Buffer.from(s, 'utf8'))

const json = (v: unknown) => () => Buffer.from(JSON.stringify(v) ?? 'null')
const text = (s: string) => () => Buffer.from(s, 'utf8')

const anyJson = fc.jsonValue({ maxDepth: 3 })
const oddValue = fc.oneof(
  anyJson,
  fc.constantFrom(...ODD_STRINGS),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(null, -0, 1e308, -1e308, 2 ** 53 + 1, -1, 0, 0.5, '', [], {}),
)

function sampleBody(route: ApiRoute): Record<string, unknown> {
  const b = SAMPLE_BODIES[routeLabel(route)]
  return typeof b === 'object' && b !== null ? { ...(b as Record<string, unknown>) } : {}
}

/** Inserts `"key": <json>` as the first member of an object body's JSON text (to send keys like `__proto__` literally). */
function withMember(body: Record<string, unknown>, key: string, value: string): string {
  const rest = JSON.stringify(body).slice(1)
  return `{${JSON.stringify(key)}:${value}${rest === '}' ? '' : ','}${rest}`
}

interface RouteInfo {
  readonly route: ApiRoute
  readonly label: string
  readonly method: string
  readonly params: string[]
  readonly queryKeys: string[]
  readonly body: boolean
  /**
   * A state-changing (audited) route may keep what it is sent: it gets
   * nesting and strings that a store can read back (deeper ones poison the
   * store, a known bug reproduced below; megabyte values make every later
   * GET /runs slow).
   */
  readonly stores: boolean
}

function infoOf(route: ApiRoute): RouteInfo {
  const query = (route.config.request as { query?: { shape?: Record<string, unknown> } } | undefined)?.query
  return {
    route,
    label: routeLabel(route),
    method: route.config.method.toUpperCase(),
    params: routeParams(route),
    queryKeys: Object.keys(query?.shape ?? {}),
    body: takesBody(route),
    stores: route.audit !== undefined,
  }
}

/** Everything that varies between requests, built on the values of the running server. */
function requestArbitrary(samples: (info: RouteInfo, param: string) => string, admin: string) {
  const routes = API_ROUTES.map(infoOf)
  const auth = { authorization: `Bearer ${admin}` }
  const jsonType = { 'content-type': 'application/json' }

  const pathFor = (info: RouteInfo, hostile?: Record<string, string>) =>
    '/api/v1' +
    info.route.config.path.replace(/\{(\w+)\}/g, (_, p: string) => hostile?.[p] ?? encodeText(samples(info, p)))

  const hostileParam = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...TRAVERSAL) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map(encodeText) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20 }).map(encodeBytes) },
    { weight: 1, arbitrary: fc.integer({ min: 201, max: 3000 }).map((n) => 'a'.repeat(n)) },
  )
  const queryValue = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...BAD_QUERY_VALUES) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map(encodeText) },
    { weight: 1, arbitrary: fc.integer().map(String) },
  )

  const forRoute = (info: RouteInfo, kind: Kind): fc.Arbitrary<FuzzRequest> => {
    const base = { kind, route: info.label, method: info.method }
    const path = pathFor(info)
    const sample = sampleBody(info.route)
    const withBody = (body: () => Buffer, about: string, headers: Record<string, string> = jsonType) =>
      ({ ...base, path, headers: { ...auth, ...headers }, body, about }) as FuzzRequest
    switch (kind) {
      case 'valid':
        return fc.constant(
          info.body ? withBody(json(sample), 'the sample body') : { ...base, path, headers: auth, about: '' },
        )
      case 'malformed-json':
        return fc.oneof(
          fc.constantFrom(...MALFORMED_JSON).map((t) => withBody(text(t), `malformed ${JSON.stringify(t)}`)),
          fc.nat().map((n) => {
            const t = JSON.stringify(sample)
            const cut = t.slice(0, n % Math.max(1, t.length))
            return withBody(text(cut), `truncated ${JSON.stringify(cut)}`)
          }),
        )
      case 'wrong-types': {
        const keys = Object.keys(sample)
        if (keys.length === 0) return anyJson.map((v) => withBody(json(v), `json ${JSON.stringify(v)?.slice(0, 80)}`))
        return fc
          .tuple(
            fc.subarray(keys, { minLength: 1 }),
            fc.array(oddValue, { minLength: keys.length, maxLength: keys.length }),
          )
          .map(([ks, vs]) => {
            const b = { ...sample }
            ks.forEach((k, i) => (b[k] = vs[i]))
            return withBody(json(b), `types ${JSON.stringify(b).slice(0, 120)}`)
          })
      }
      case 'missing-fields':
        return fc.subarray(Object.keys(sample)).map((ks) => {
          const b = { ...sample }
          for (const k of ks) delete b[k]
          return withBody(json(b), `missing ${ks.join(',')}`)
        })
      case 'unknown-fields':
        return fc.oneof(
          fc
            .dictionary(fc.string({ maxLength: 12 }), anyJson, { minKeys: 1, maxKeys: 4 })
            .map((extra) => withBody(json({ ...sample, ...extra }), `extra ${Object.keys(extra).join(',')}`)),
          fc
            .constantFrom('__proto__', 'constructor', 'prototype')
            .map((k) => withBody(text(withMember(sample, k, '{"polluted":true}')), `member ${k}`)),
        )
      case 'random-json':
        return anyJson.map((v) => withBody(json(v), `json ${JSON.stringify(v)?.slice(0, 80)}`))
      case 'huge-body':
        return fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.boolean()).map(([extra, chunked]) => ({
          ...withBody(
            () => Buffer.from(JSON.stringify({ ...sample, padding: 'x'.repeat(MAX_BODY + extra) })),
            `${MAX_BODY + extra}+ bytes${chunked ? ', chunked' : ''}`,
          ),
          chunked,
        }))
      case 'huge-string':
        return fc
          .tuple(
            fc.integer({ min: 10_000, max: info.stores ? 100_000 : 1_000_000 }),
            fc.constantFrom('x', 'é', '💥', '\u0000'),
            fc.nat(),
          )
          .map(([n, unit, pick]) => {
            const keys = Object.keys(sample)
            const key = keys.length === 0 ? 'name' : (keys[pick % keys.length] as string)
            return withBody(
              () => Buffer.from(JSON.stringify({ ...sample, [key]: unit.repeat(Math.ceil(n / unit.length)) })),
              `${key} = ${n} × ${JSON.stringify(unit)}`,
            )
          })
      case 'odd-encoding':
        return fc.oneof(
          fc.tuple(fc.constantFrom(...ODD_STRINGS), fc.nat()).map(([s, pick]) => {
            const keys = Object.keys(sample)
            const key = keys.length === 0 ? 'name' : (keys[pick % keys.length] as string)
            return withBody(json({ ...sample, [key]: s }), `${key} = ${JSON.stringify(s)}`)
          }),
          fc.constantFrom(...INVALID_UTF8).map((bytes) => {
            const key = Object.keys(sample).find((k) => typeof sample[k] === 'string') ?? 'name'
            const t = JSON.stringify({ ...sample, [key]: '@@' })
            const [a, b] = t.split('@@') as [string, string]
            return withBody(
              () => Buffer.concat([Buffer.from(a), Buffer.from(bytes), Buffer.from(b)]),
              `${key} with bytes ${bytes}`,
            )
          }),
          fc.constant(
            withBody(() => Buffer.from(JSON.stringify(sample), 'utf16le'), 'UTF-16LE', {
              'content-type': 'application/json; charset=utf-16',
            }),
          ),
          fc.constant(withBody(() => Buffer.from('\ufeff' + JSON.stringify(sample)), 'BOM first')),
        )
      case 'deep-nesting':
        return fc
          .tuple(
            fc.constantFrom(...(info.stores ? [16, 64, 256, 512] : [64, 512, 2048, 10_000, 50_000, 200_000])),
            fc.constantFrom('[', '{"a":'),
            fc.nat(),
          )
          .map(([depth, open, pick]) => {
            const close = open === '[' ? ']' : '}'
            const keys = Object.keys(sample)
            const key = keys.length === 0 ? 'input' : (keys[pick % keys.length] as string)
            const nested = `${open.repeat(depth)}${open === '[' ? '' : '1'}${close.repeat(depth)}`
            const { [key]: _replaced, ...rest } = sample
            return withBody(text(withMember(rest, key, nested)), `${key} nested ${depth} × ${open}`)
          })
      case 'hostile-path':
        if (info.params.length === 0)
          return fc
            .constantFrom('/..%2F..%2Fetc%2Fpasswd', '%2F..', '/%00', '/.', '%00')
            .map((tail) => ({ ...base, path: path + tail, headers: auth, about: `suffix ${tail}` }))
        return fc.array(hostileParam, { minLength: info.params.length, maxLength: info.params.length }).map((vs) => {
          const hostile = Object.fromEntries(info.params.map((p, i) => [p, vs[i] as string]))
          const body = info.body ? { body: json(sample) } : {}
          return {
            ...base,
            path: pathFor(info, hostile),
            headers: { ...auth, ...jsonType },
            ...body,
            about: `params ${JSON.stringify(hostile)}`,
          }
        })
      case 'content-type':
        return fc
          .tuple(fc.constantFrom(...CONTENT_TYPES), fc.constantFrom('sample', 'form', 'null'))
          .map(([type, what]) =>
            withBody(
              what === 'sample' ? json(sample) : text(what === 'null' ? 'null' : 'name=x&role=GUEST'),
              `content-type ${JSON.stringify(type)}, ${what} body`,
              type === '' ? {} : { 'content-type': type },
            ),
          )
      case 'bad-query': {
        const keys = [...info.queryKeys, 'unknown', 'limit', '__proto__']
        return fc.array(fc.tuple(fc.constantFrom(...keys), queryValue), { minLength: 1, maxLength: 4 }).map((pairs) => {
          const q = pairs.map(([k, v]) => `${k}=${v}`).join('&')
          const body = info.body ? { body: json(sample) } : {}
          return {
            ...base,
            path: `${path}?${q}`,
            headers: { ...auth, ...jsonType },
            ...body,
            about: `query ${q.slice(0, 120)}`,
          }
        })
      }
      case 'wrong-method':
        return fc
          .constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD')
          .filter((m) => m !== info.method)
          .map((m) => ({ ...base, method: m, path, headers: auth, about: `method ${m}` }))
      case 'bad-auth':
        return fc
          .constantFrom<
            Record<string, string>
          >({}, { authorization: 'Bearer' }, { authorization: 'Basic YWRtaW46YWRtaW4=' }, { authorization: `Bearer ${admin.slice(0, -2)}xx` }, { authorization: `Bearer ${admin} extra` }, { authorization: `bearer  ${'a'.repeat(4000)}` }, { authorization: `Bearer flt_${'A'.repeat(12)}_${'a'.repeat(43)}` }, { authorization: `Bearer flt_aaaaaaaaaaaa_${'\u00ff'.repeat(43)}` }, { 'x-api-key': 'garbage' }, { 'x-api-key': '   ' }, { 'x-api-key': admin, authorization: 'Token x' })
          .map((h) => ({
            ...base,
            path,
            headers: { ...h, ...(info.body ? jsonType : {}) },
            ...(info.body ? { body: json(sample) } : {}),
            about: `auth ${JSON.stringify(h).slice(0, 80)}`,
          }))
      case 'odd-headers':
        return fc
          .record({
            requestId: fc.oneof(
              fc.string({ maxLength: 200 }),
              fc.constantFrom('\u00ff\u00fe', '../x', 'a'.repeat(129)),
            ),
            idempotency: fc.oneof(fc.string({ minLength: 0, maxLength: 300 }), fc.constant('\u00e9t\u00e9')),
            accept: fc.constantFrom('*/*', 'text/html', 'application/xml', 'application/json;q=0', ''),
          })
          .map(({ requestId, idempotency, accept }) => ({
            ...base,
            path,
            headers: {
              ...auth,
              ...(info.body ? jsonType : {}),
              'x-request-id': requestId.replace(/[^\t\x20-\x7e\x80-\xff]/g, ''),
              'idempotency-key': idempotency.replace(/[^\t\x20-\x7e\x80-\xff]/g, ''),
              accept,
            },
            ...(info.body ? { body: json(sample) } : {}),
            about: `headers ${JSON.stringify({ requestId, idempotency, accept }).slice(0, 120)}`,
          }))
    }
  }

  const weights: Record<Kind, number> = {
    valid: 4,
    'malformed-json': 10,
    'wrong-types': 12,
    'missing-fields': 6,
    'unknown-fields': 8,
    'random-json': 6,
    'huge-body': 1,
    'huge-string': 3,
    'odd-encoding': 10,
    'deep-nesting': 3,
    'hostile-path': 12,
    'content-type': 8,
    'bad-query': 10,
    'wrong-method': 3,
    'bad-auth': 3,
    'odd-headers': 4,
  }
  return fc.constantFrom(...routes).chain((info) =>
    fc.oneof(
      ...KINDS.filter((k) => info.body || !BODY_KINDS.has(k)).map((k) => ({
        weight: weights[k],
        arbitrary: forRoute(info, k),
      })),
    ),
  )
}

// ---------------------------------------------------------------- the test

describe('fuzzing every route of the HTTP API', () => {
  let backend: Backend
  let server: RunningServer
  let admin = ''
  let agent: http.Agent
  /** The cause the server logged for a 5xx, by request id. */
  const causes = new Map<string, string>()
  const samples = { runId: '', keyId: '' }

  beforeAll(async () => {
    backend = await openBackend('memory')
    const workflows = new WorkflowCatalog()
    workflows.add(workflow('greet').task('a', { agent: 'echo', input: 'hi' }).build())
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (data) => {
        const err = data.err as { name?: string; message?: string } | undefined
        causes.set(String(data.requestId), `${err?.name ?? '?'}: ${err?.message ?? '?'}`)
      },
      child: () => logger,
    }
    server = await startServer({
      backend,
      port: 0,
      workflows,
      logger,
      onAdminKey: (k) => (admin = k),
      guard: { requests: 1e9, failures: 1e9 },
      // Deployed agents from the fixtures' folder, in this process (no child processes needed here).
      agents: { modules: AGENT_MODULES, workspaceRoot: AGENT_WORKSPACE, runtimes: [new InProcessRuntime()] },
    })
    agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
    const call = (method: string, path: string, body: unknown) =>
      rawRequest(server.url, {
        method,
        path: `/api/v1${path}`,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    samples.runId = ((await call('POST', '/workflows/greet/runs', {})).json as { id: string }).id
    samples.keyId = (
      (await call('POST', '/security/keys', { name: 'fuzz-victim', role: 'GUEST' })).json as {
        info: { id: string }
      }
    ).info.id
  })

  afterAll(async () => {
    agent?.destroy()
    await server?.close()
    await backend?.close()
  })

  const sampleParam = (info: RouteInfo, p: string): string => {
    const path = info.route.config.path
    if (p === 'id' && path.startsWith('/runs')) return samples.runId
    if (p === 'id' && path.startsWith('/security/keys')) return samples.keyId
    if (p === 'id' && path.startsWith('/artifacts')) return 'reports/fuzz'
    if (p === 'name' && path.startsWith('/workflows')) return 'greet'
    if (p === 'target') return 'ip:10.0.0.9'
    return 'sample'
  }

  it(
    `answers ${TOTAL} hostile requests without a 5xx, every 4xx a JSON error with a known code`,
    { timeout: 300_000 },
    async () => {
      const started = performance.now()
      const violations: Violation[] = []
      const known = new Map<string, { count: number; example: string }>()
      const perRoute = new Map<string, number>()
      const perKind = new Map<string, number>()
      const statuses = new Map<number, number>()
      let sent = 0

      let resets = 0
      const slowest: { ms: number; what: string }[] = []
      const check = async (req: FuzzRequest) => {
        const body = req.body?.()
        const send = (keepAlive: boolean) =>
          rawRequest(server.url, {
            method: req.method,
            path: req.path,
            headers: req.headers,
            // A body the server refuses before reading it all ends its connection: not one to keep alive.
            ...(keepAlive && req.kind !== 'huge-body' ? { agent } : {}),
            ...(body === undefined ? {} : { body }),
            ...(req.chunked === true ? { chunked: true } : {}),
          })
        const t0 = performance.now()
        let res: RawResponse
        try {
          try {
            res = await send(true)
          } catch {
            // The server may close a kept-alive connection just as it is reused: once more on a new one.
            resets++
            res = await send(false)
          }
        } catch (e) {
          violations.push({
            signature: `${req.route} ${req.kind}: no answer`,
            request: req,
            status: 0,
            text: String(e),
          })
          return
        }
        const ms = performance.now() - t0
        if (slowest.length < 5 || ms > slowest.at(-1)!.ms) {
          slowest.push({ ms: Math.round(ms), what: `${req.method} ${req.path.slice(0, 80)} ${req.about.slice(0, 60)}` })
          slowest.sort((a, b) => b.ms - a.ms).splice(5)
        }
        sent++
        perRoute.set(req.route, (perRoute.get(req.route) ?? 0) + 1)
        perKind.set(req.kind, (perKind.get(req.kind) ?? 0) + 1)
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        const fail = (why: string, cause?: string) =>
          violations.push({
            signature: `${req.route} ${req.kind}: ${why}`,
            request: req,
            status: res.status,
            text: res.text.slice(0, 300),
            ...(cause === undefined ? {} : { cause }),
          })
        if (res.status >= 500) {
          const cause = causes.get(String(res.headers['x-request-id']))
          const bug = cause === undefined ? undefined : KNOWN_BUGS.find((b) => b.cause.test(cause))
          if (bug !== undefined && !STRICT) {
            const k = known.get(bug.id) ?? { count: 0, example: `${req.method} ${req.path.slice(0, 100)} ${req.about}` }
            known.set(bug.id, { ...k, count: k.count + 1 })
          } else fail(`${res.status} (${cause ?? 'no cause logged'})`, cause)
          return
        }
        if (req.kind === 'huge-body' && ![400, 413].includes(res.status)) fail(`a body over 1 MiB got ${res.status}`)
        if (res.status >= 400 && req.method !== 'HEAD') {
          const error = (res.json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
            ?.error
          if (error === undefined) return fail(`${res.status} without a JSON error body`)
          if (typeof error.code !== 'string' || !(error.code in ERROR_CODES)) fail(`unknown code ${String(error.code)}`)
          if (typeof error.message !== 'string' || error.message === '') fail('no message')
          if (typeof error.details !== 'object' || error.details === null || Array.isArray(error.details))
            fail('details is not an object')
        }
      }

      await fc.assert(
        fc.asyncProperty(
          fc.array(requestArbitrary(sampleParam, admin), { minLength: CONCURRENCY, maxLength: CONCURRENCY }),
          async (batch) => {
            await Promise.all(batch.map(check))
          },
        ),
        { numRuns: TOTAL / CONCURRENCY, seed: SEED },
      )

      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      const fmt = (m: Map<unknown, number>) =>
        [...m]
          .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
          .map(([k, v]) => `${String(k)}: ${v}`)
          .join(', ')
      console.log(
        `fuzz (seed ${SEED}): ${sent} requests in ${seconds} s over ${perRoute.size} routes\n` +
          `  by kind: ${fmt(perKind)}\n  by status: ${fmt(statuses)}\n` +
          `  slowest: ${slowest.map((x) => `${x.ms} ms ${x.what}`).join('; ')}\n` +
          `  connections reset on reuse (retried): ${resets}\n` +
          `  known bugs: ${[...known].map(([id, k]) => `${id} ×${k.count} (e.g. ${k.example})`).join('; ') || 'none'}`,
      )
      // Every route was reached, and enough of each kind was sent.
      expect(sent + violations.filter((v) => v.status === 0).length).toBe(TOTAL)
      expect([...perRoute.keys()].sort()).toEqual(API_ROUTES.map(routeLabel).sort())
      for (const k of KINDS) expect(perKind.get(k) ?? 0, k).toBeGreaterThan(0)
      // One example per signature, the smallest.
      const bySignature = new Map<string, Violation>()
      for (const v of violations) {
        const seen = bySignature.get(v.signature)
        if (seen === undefined || v.request.about.length < seen.request.about.length) bySignature.set(v.signature, v)
      }
      const report = [...bySignature.values()].map(
        (v) =>
          `${v.signature}\n    ${v.request.method} ${v.request.path.slice(0, 200)} ${JSON.stringify(v.request.headers).slice(0, 200)} ${v.request.about}\n    → ${v.status} ${v.text}`,
      )
      expect(report, `${violations.length} answers broke the property`).toEqual([])
      // No request polluted the prototype of this process's objects (the server runs in it).
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    },
  )

  it('still answers /health, lets the ADMIN key in, and keeps the audit chain whole', async () => {
    const health = await rawRequest(server.url, { method: 'GET', path: '/api/v1/health' })
    expect(health.status).toBe(200)
    const runs = await rawRequest(server.url, {
      method: 'GET',
      path: '/api/v1/runs?limit=1',
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(runs.status, runs.text).toBe(200)
    const verify = await rawRequest(server.url, {
      method: 'POST',
      path: '/api/v1/security/audit/verify',
      headers: { authorization: `Bearer ${admin}` },
    })
    expect(verify.json, verify.text).toMatchObject({ ok: true })
  })

  describe('bugs this test found, fixed (kept as regressions)', () => {
    const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}, chunked = false) =>
      rawRequest(server.url, {
        method: 'POST',
        path: `/api/v1${path}`,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', ...headers },
        body,
        chunked,
      })
    const expectClientError = (res: RawResponse) => {
      expect(res.status, res.text).toBeGreaterThanOrEqual(400)
      expect(res.status, res.text).toBeLessThan(500)
    }

    it('a malformed JSON body is a 400 VALIDATION_FAILED (today: 500 INTERNAL)', async () => {
      const res = await post('/security/keys', '{"name":"x",')
      expect(res.status, res.text).toBe(400)
      expect(res.json).toMatchObject({ error: { code: 'VALIDATION_FAILED' } })
    })

    it('a body that is not application/json is a 4xx JSON error (today: 500 INTERNAL)', async () => {
      expectClientError(await post('/security/keys', '{"name":"x","role":"GUEST"}', { 'content-type': 'text/plain' }))
    })

    it('cancel and rotate answer a body of null sent as text/plain with a 4xx (today: 500, TypeError)', async () => {
      expectClientError(await post(`/runs/${samples.runId}/cancel`, 'null', { 'content-type': 'text/plain' }))
      expectClientError(await post(`/security/keys/${samples.keyId}/rotate`, 'null', { 'content-type': 'text/plain' }))
    })

    it('POST /workflows/validate answers a task input nested 5,000 deep without a 500', async () => {
      const nested = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`
      const res = await post(
        '/workflows/validate',
        `{"name":"x","tasks":[{"id":"a","agent":"echo","input":${nested}}]}`,
      )
      expect(res.status, res.text).toBeLessThan(500)
    })

    it('a start body sent chunked (no Content-Length) keeps its input (today: input dropped, run.input null)', async () => {
      const res = await post('/workflows/greet/runs', JSON.stringify({ input: { n: 5 } }), {}, true)
      expect(res.status, res.text).toBe(201)
      expect((res.json as { input: unknown }).input).toEqual({ n: 5 })
    })

    it('a run input nested 2,000 deep is refused, and GET /runs and /ready keep working (today: both broken for good)', async () => {
      // Its own server: the bug breaks the store for every later request.
      const b = await openBackend('memory')
      const workflows = new WorkflowCatalog()
      workflows.add(workflow('greet').task('a', { agent: 'echo', input: 'hi' }).build())
      let key = ''
      const s = await startServer({ backend: b, port: 0, workflows, onAdminKey: (k) => (key = k) })
      try {
        const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
        const nested = `${'['.repeat(2000)}${']'.repeat(2000)}`
        const start = await rawRequest(s.url, {
          method: 'POST',
          path: '/api/v1/workflows/greet/runs',
          headers,
          body: `{"input":${nested}}`,
        })
        expect(start.status, start.text).toBeLessThan(500)
        const list = await rawRequest(s.url, { method: 'GET', path: '/api/v1/runs', headers })
        expect(list.status, list.text).toBe(200) // today: 500 INTERNAL, RangeError in MemoryStore.listRuns
        const ready = await rawRequest(s.url, { method: 'GET', path: '/api/v1/ready' })
        expect(ready.status, ready.text).toBe(200) // today: 503 "Maximum call stack size exceeded"
      } finally {
        await s.close()
        await b.close()
      }
    })
  })
})
