/**
 * The typed client of the HTTP API: `flotilla/client`. Generated from the
 * server's OpenAPI document, so paths, parameters, bodies and responses are
 * typed.
 *
 * @packageDocumentation
 */
export { createApiClient, unwrap } from './client/api-client.js'
export type { ApiClient, ApiClientOptions, ApiPaths } from './client/api-client.js'
