import createClient, { type Client } from 'openapi-fetch'
import { FlotillaError, isErrorCode } from '../core/errors.js'
import type { paths } from './api-types.js'

/** The typed client of the HTTP API: `GET`, `POST`, `PUT`, `DELETE` on `/api/v1/…` paths, typed from the OpenAPI document. */
export type ApiClient = Client<paths>

/** The paths of the HTTP API with their operations (generated from `schema/openapi.json`). */
export type ApiPaths = paths

/** Options of {@link createApiClient}. */
export interface ApiClientOptions {
  /** The server, e.g. `http://127.0.0.1:7400` (no path). */
  readonly url: string
  /** An API key `flt_<id>_<secret>`, sent as `Authorization: Bearer`. */
  readonly apiKey?: string
  /** Another fetch (tests, proxies). @default globalThis.fetch */
  readonly fetch?: (input: Request) => Promise<Response>
}

/**
 * A typed client of a Flotilla server (`flotilla serve`), generated from its
 * OpenAPI document with openapi-fetch: paths, parameters, bodies and
 * responses are checked by TypeScript. Each call resolves to
 * `{ data, error, response }`; {@link unwrap} turns an error body into a
 * {@link FlotillaError} with the server's code.
 *
 * @example
 * ```ts
 * const api = createApiClient({ url: 'http://127.0.0.1:7400', apiKey: process.env.FLOTILLA_API_KEY })
 * const run = unwrap(await api.POST('/api/v1/workflows/{name}/runs', { params: { path: { name: 'nightly-report' } }, body: {} }))
 * console.log(run.id, run.state)
 * ```
 */
export function createApiClient(options: ApiClientOptions): ApiClient {
  return createClient<paths>({
    baseUrl: options.url.replace(/\/+$/, ''),
    ...(options.apiKey === undefined ? {} : { headers: { authorization: `Bearer ${options.apiKey}` } }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  })
}

/**
 * The data of a call, or the server's error as a {@link FlotillaError}
 * (its `code`, `message` and `details`; `details.status` is the HTTP status).
 */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error === undefined && result.data !== undefined) return result.data
  const body = result.error as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined
  const e = body?.error
  const code = isErrorCode(e?.code) ? e.code : 'INTERNAL'
  const message = typeof e?.message === 'string' ? e.message : `The server answered ${result.response.status}.`
  const details = typeof e?.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {}
  throw new FlotillaError(code, message, { details: { ...details, status: result.response.status } })
}
