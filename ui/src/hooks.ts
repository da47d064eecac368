import { useEffect, useRef, useState } from 'react'
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

/** Whether the signed-in key may take `action` on `resource` (asks `GET /security/whoami`); false until known. */
export function useAllowed(resource: string, actions: readonly string[]): Record<string, boolean> {
  const [allowed, setAllowed] = useState<Record<string, boolean>>({})
  const key = `${resource}|${actions.join(',')}`
  const last = useRef('')
  useEffect(() => {
    last.current = key
    let live = true
    void Promise.all(
      actions.map(async (a) => {
        try {
          const r = await get<{ allowed: boolean | null }>(
            `/security/whoami?resource=${encodeURIComponent(resource)}&action=${encodeURIComponent(a)}`,
          )
          return [a, r.allowed === true] as const
        } catch {
          return [a, false] as const
        }
      }),
    ).then((pairs) => {
      if (live) setAllowed(Object.fromEntries(pairs))
    })
    return () => {
      live = false
    }
  }, [key])
  return allowed
}
