/** The dashboard's only door to the server: `/api/v1` with the API key of the session. */

const KEY_ITEM = 'flotilla.apiKey'
export const API = '/api/v1'

/** The key of this browser tab (session storage: gone when the tab closes). */
export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM)
}
export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY_ITEM)
  else sessionStorage.setItem(KEY_ITEM, key)
}

/** An error answer of the API: `{ error: { code, message } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = storedKey()
  return { ...(key === null ? {} : { Authorization: `Bearer ${key}` }), ...extra }
}

async function answer<T>(res: Response): Promise<T> {
  if (res.ok) return (await res.json()) as T
  let code = `HTTP_${res.status}`
  let message = res.statusText
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } }
    code = body.error?.code ?? code
    message = body.error?.message ?? message
  } catch {
    // not JSON: keep the status
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('flotilla:unauthorized'))
  throw new ApiError(res.status, code, message)
}

/** GET `/api/v1<path>`. */
export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return answer<T>(await fetch(`${API}${path}`, { headers: headers(), ...(signal ? { signal } : {}) }))
}

/** POST `/api/v1<path>` with a JSON body. */
export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return answer<T>(
    await fetch(`${API}${path}`, {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(body),
    }),
  )
}

/** One server-sent event. */
export interface SseMessage {
  id: string | undefined
  event: string
  data: string
}

/**
 * Follows a server-sent event stream of the API. `EventSource` cannot send
 * the key's header, so this reads the stream with `fetch`; it reconnects
 * after a drop (resuming from the last id) until `signal` aborts or the
 * server ends the stream (`onEnd`); `onOpen` is told each (re)connection.
 */
export function followEvents(
  path: string,
  onMessage: (m: SseMessage) => void,
  options: { signal: AbortSignal; onOpen?: () => void; onEnd?: () => void; onError?: (e: unknown) => void },
): void {
  let lastId: string | undefined
  const decoder = new TextDecoder()
  const connect = async (): Promise<void> => {
    const res = await fetch(`${API}${path}`, {
      headers: headers({ Accept: 'text/event-stream', ...(lastId === undefined ? {} : { 'Last-Event-ID': lastId }) }),
      signal: options.signal,
    })
    if (!res.ok || res.body === null) {
      await answer(res)
      return
    }
    options.onOpen?.()
    const reader = res.body.getReader()
    let buffer = ''
    let slice = performance.now()
    for (;;) {
      // Buffered chunks resolve as microtasks: yield now and then, so a long replay never holds the page's frames.
      if (performance.now() - slice > 8) {
        await new Promise((r) => setTimeout(r, 0))
        slice = performance.now()
      }
      const { done, value } = await reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n')
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let id: string | undefined
        let event = 'message'
        const data: string[] = []
        for (const line of block.split('\n')) {
          if (line === '' || line.startsWith(':')) continue
          const colon = line.indexOf(':')
          const field = colon < 0 ? line : line.slice(0, colon)
          const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (field === 'id') id = text
          else if (field === 'event') event = text
          else if (field === 'data') data.push(text)
        }
        if (data.length === 0) continue
        if (id !== undefined) lastId = id
        onMessage({ id, event, data: data.join('\n') })
      }
    }
  }
  void (async () => {
    let failures = 0
    while (!options.signal.aborted) {
      try {
        await connect()
        if (options.signal.aborted) return
        options.onEnd?.()
        return
      } catch (e) {
        if (options.signal.aborted) return
        if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) {
          options.onError?.(e)
          return
        }
        failures++
        options.onError?.(e)
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** failures)))
      }
    }
  })()
}

/** Formats US dollars. */
export function usd(n: number): string {
  return n === 0 ? '$0' : n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`
}

/** Formats a duration in ms. */
export function duration(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

/** Formats a time of day. */
export function clock(at: number | null | undefined): string {
  return at === null || at === undefined ? '—' : new Date(at).toLocaleTimeString()
}
