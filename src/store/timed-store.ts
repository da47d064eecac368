import type { Histogram } from '../telemetry/telemetry.js'
import type { Store } from './store.js'

/**
 * `store` with its commits timed: each `commit` and `commitSync` (a batch
 * of state changes, written in one transaction) records how long it took,
 * in ms, on `histogram` with `attributes` (failed commits too). Every other
 * member is the store's own. Used only when a meter is given, so the
 * default path has no wrapper.
 *
 * @example
 * ```ts
 * const store = timedStore(openStore('memory'), histogram, { store: 'memory', path: 'runs' })
 * ```
 */
export function timedStore(store: Store, histogram: Histogram, attributes: Record<string, string>): Store {
  const commit: Store['commit'] = async (batch) => {
    const started = performance.now()
    try {
      await store.commit(batch)
    } finally {
      histogram.record(performance.now() - started, attributes)
    }
  }
  const sync = store.commitSync?.bind(store)
  const commitSync: Store['commitSync'] =
    sync === undefined
      ? undefined
      : (batch) => {
          const started = performance.now()
          try {
            sync(batch)
          } finally {
            histogram.record(performance.now() - started, attributes)
          }
        }
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(store, {
    get(target, key) {
      if (key === 'commit') return commit
      if (key === 'commitSync') return commitSync
      const value: unknown = Reflect.get(target, key, target)
      if (typeof value !== 'function') return value
      let fn = bound.get(key)
      if (fn === undefined) bound.set(key, (fn = (value as (...a: unknown[]) => unknown).bind(target)))
      return fn
    },
  })
}
