import type { ContextStore } from './context-store.js'
import type { ArtifactAccess, ArtifactLineage, CacheAccess } from './types.js'
import { checkPrincipal } from './validate.js'

/*
 * The views of a `ContextStore` that an agent holds in its context: its
 * artifacts and the shared cache as one principal sees them, every call
 * checked against that principal's permissions by the store.
 */

/** The artifacts of `store` as `principal` sees them, with `lineage` recorded on each write (see `ContextStore.as`). */
export function artifactView(store: ContextStore, principal: string, lineage: ArtifactLineage): ArtifactAccess {
  checkPrincipal(principal)
  const { runId = null, taskId = null } = lineage
  return {
    get: (id, options) => store.get(principal, id, options),
    put: (id, content, options = {}) => store.put(principal, id, content, { ...options, runId, taskId }),
    history: (id) => store.history(principal, id),
    list: (options) => store.list(principal, options),
    delete: (id) => store.delete(principal, id),
  }
}

/** The shared cache of `store` as `principal` sees it (see `ContextStore.cacheAs`). */
export function cacheView(store: ContextStore, principal: string): CacheAccess {
  checkPrincipal(principal)
  return {
    share: (key, value, options) => store.share(principal, key, value, options),
    get: (key) => store.getShared(principal, key),
  }
}
