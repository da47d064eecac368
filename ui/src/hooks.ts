import { useEffect, useState } from 'react'
import { ApiError, get } from './api'

/** GETs `path` (again every `everyMs` when given); `reload` asks at once. */
export function useApi<T>(
  path: string | null,
  everyMs?: number,
): { data: T | undefined; error: Error | undefined; reload: () => void } {
  const [data, setData] = useState<T>()
  const [error, setError] = useState<Error>()
  const [tick, setTick] = useState(0)
  useEffect(() => {
    if (path === null) return
    const ctl = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const load = async (): Promise<void> => {
      let again = everyMs !== undefined
      try {
        setData(await get<T>(path, ctl.signal))
        setError(undefined)
      } catch (e) {
        if (!ctl.signal.aborted) setError(e as Error)
        // A refusal is not asked again: repeated denials count toward blocking the key.
        if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) again = false
      }
      if (again && !ctl.signal.aborted) timer = setTimeout(() => void load(), everyMs)
    }
    void load()
    return () => {
      ctl.abort()
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [path, everyMs, tick])
  return { data, error, reload: () => setTick((t) => t + 1) }
}

/** Answers of whoami for this session, by `resource|action` (a key's grants do not change while it is signed in). */
const allowedCache = new Map<string, boolean>()

/** Forgets what the signed-in key may do (at sign-out). */
export function forgetAllowed(): void {
  allowedCache.clear()
}

/**
 * Whether the signed-in key may take each of `actions` on `resource` (asks
 * `GET /security/whoami?resource=…&action=…` once per pair and session);
 * an action is absent until known.
 */
export function useAllowed(resource: string, actions: readonly string[]): Record<string, boolean> {
  const cached = (): Record<string, boolean> =>
    Object.fromEntries(
      actions.flatMap((a) => {
        const v = allowedCache.get(`${resource}|${a}`)
        return v === undefined ? [] : [[a, v]]
      }),
    )
  const [allowed, setAllowed] = useState<Record<string, boolean>>(cached)
  const key = `${resource}|${actions.join(',')}`
  useEffect(() => {
    let live = true
    setAllowed(cached())
    const missing = actions.filter((a) => !allowedCache.has(`${resource}|${a}`))
    void Promise.all(
      missing.map(async (a) => {
        try {
          const r = await get<{ allowed: boolean | null }>(
            `/security/whoami?resource=${encodeURIComponent(resource)}&action=${encodeURIComponent(a)}`,
          )
          allowedCache.set(`${resource}|${a}`, r.allowed === true)
        } catch {
          // unknown: no button
        }
      }),
    ).then(() => {
      if (live && missing.length > 0) setAllowed(cached())
    })
    return () => {
      live = false
    }
  }, [key])
  return allowed
}
