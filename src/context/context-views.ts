import type {
  Artifact,
  ArtifactAccess,
  ArtifactInfo,
  ArtifactLineage,
  CacheAccess,
  GetArtifactOptions,
  ListArtifactsOptions,
  PutArtifactOptions,
  ShareOptions,
} from './types.js'
import { checkPrincipal } from './validate.js'

/*
 * The views of a `ContextStore` that an agent holds in its context: its
 * artifacts and the shared cache as one principal sees them, every call
 * checked against that principal's permissions by the store.
 */

/** The operations of a `ContextStore` that its views call (named here, so this module does not import the store). */
export interface ViewedStore {
  get(principal: string, id: string, options?: GetArtifactOptions): Promise<Artifact>
  put(principal: string, id: string, content: unknown, options?: PutArtifactOptions): Promise<Artifact>
  history(principal: string, id: string): Promise<ArtifactInfo[]>
  list(principal: string, options?: ListArtifactsOptions): Promise<ArtifactInfo[]>
  delete(principal: string, id: string): Promise<boolean>
  share(principal: string, key: string, value: unknown, options: ShareOptions): Promise<void>
  getShared(principal: string, key: string): Promise<unknown>
}

/** The artifacts of `store` as `principal` sees them, with `lineage` recorded on each write (see `ContextStore.as`). */
export function artifactView(store: ViewedStore, principal: string, lineage: ArtifactLineage): ArtifactAccess {
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
export function cacheView(store: ViewedStore, principal: string): CacheAccess {
  checkPrincipal(principal)
  return {
    share: (key, value, options) => store.share(principal, key, value, options),
    get: (key) => store.getShared(principal, key),
  }
}
