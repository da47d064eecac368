import { createApiClient, unwrap, type ApiClient } from '../client/api-client.js'
import type { components } from '../client/api-types.js'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { usageError, type FlagSpecs, type RawArgs } from './args.js'

/** The flags that send a command to a server instead of the store. */
export const REMOTE_FLAGS: FlagSpecs = {
  server: { type: 'string' },
  'api-key': { type: 'string' },
}

/** The help lines of {@link REMOTE_FLAGS}. */
export const REMOTE_HELP = `      --server URL        Send the command to a "flotilla serve" API instead of
                          opening the store (default: $FLOTILLA_SERVER)
      --api-key KEY       The API key for --server (default: $FLOTILLA_API_KEY)`

/** A run as the API shows it. */
export type ApiRun = components['schemas']['Run']
/** A task as the API shows it. */
export type ApiTask = components['schemas']['Task']

/** A server to call, with a key. */
export interface Remote {
  /** `http://host:port`, as given. */
  readonly url: string
  readonly api: ApiClient
  /**
   * Runs one call of the typed client: its data, or the server's error as a
   * FlotillaError with the server's code; an unreachable server is
   * `STORE_UNAVAILABLE` naming it.
   */
  call<T>(request: (api: ApiClient) => Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T>
}

function env(name: string): string | undefined {
  const v = process.env[name]
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

/**
 * The server a command is sent to: `--server` (else `$FLOTILLA_SERVER`,
 * unless `--store` was given), with `--api-key` (else `$FLOTILLA_API_KEY`);
 * `undefined` when the command works on the store. A server without a key,
 * or both `--server` and `--store`, is `CLI_USAGE`.
 *
 * @example
 * ```ts
 * const remote = remoteOf('runs list', values)
 * if (remote !== undefined) return remoteList(remote, values, io)
 * ```
 */
export function remoteOf(command: string, values: RawArgs['values']): Remote | undefined {
  const flag = values.server as string | undefined
  if (flag !== undefined && values.store !== undefined)
    throw usageError(command, 'Give --server or --store, not both: a server works on its own store.')
  const url = flag ?? (values.store === undefined ? env('FLOTILLA_SERVER') : undefined)
  if (url === undefined) return undefined
  if (!/^https?:\/\/[^\s/]+/i.test(url))
    throw usageError(command, `--server expects the URL of a server, as in http://127.0.0.1:7400; got "${url}".`)
  const apiKey = (values['api-key'] as string | undefined) ?? env('FLOTILLA_API_KEY')
  if (apiKey === undefined) throw usageError(command, `--server needs an API key: --api-key flt_… or FLOTILLA_API_KEY.`)
  const base = url.replace(/\/+$/, '').replace(/\/api\/v1$/, '')
  const api = createApiClient({ url: base, apiKey })
  return {
    url: base,
    api,
    async call(request) {
      let result: Awaited<ReturnType<typeof request>>
      try {
        result = await request(api)
      } catch (e) {
        if (isFlotillaError(e)) throw e
        const cause = (e as { cause?: { code?: string; message?: string } }).cause
        throw new FlotillaError(
          'STORE_UNAVAILABLE',
          `Cannot reach the server ${base}: ${cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e))}. Is "flotilla serve" running there?`,
          { details: { server: base }, cause: e },
        )
      }
      return unwrap(result)
    },
  }
}

const FINAL = new Set(['run.succeeded', 'run.failed', 'run.cancelled'])

/**
 * Reads the events of run `id` from the server every `pollMs` (one request
 * each time, well within the rate limit) and hands each to `onEvent`, until
 * the run ends.
 */
export async function followRemote(
  remote: Remote,
  id: string,
  onEvent: (event: Record<string, unknown>) => void,
  pollMs = 1000,
): Promise<void> {
  let afterSeq = 0
  for (;;) {
    const { events } = await remote.call((api) =>
      api.GET('/api/v1/runs/{id}/events', { params: { path: { id }, query: { afterSeq, limit: 1000 } } }),
    )
    let ended = false
    for (const e of events) {
      afterSeq = e.seq
      onEvent(e.event)
      if (FINAL.has(String(e.event.type))) ended = true
    }
    if (ended) return
    if (events.length < 1000) await new Promise((r) => setTimeout(r, pollMs))
  }
}
