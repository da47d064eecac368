// The TypeScript types of the HTTP API, from its OpenAPI document (openapi-typescript).
import openapiTS, { astToString } from 'openapi-typescript'

/** The text of src/client/api-types.ts for `document`. */
export async function clientTypes(document) {
  const ast = await openapiTS(document)
  return (
    '// Generated from schema/openapi.json by `npm run schema` (openapi-typescript). Do not edit.\n' +
    '/* eslint-disable */\n' +
    astToString(ast)
  )
}
