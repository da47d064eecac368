// Writes the generated schemas from the built code. Run after `npm run build`: `npm run schema`.
// - schema/workflow.schema.json: the workflow file format (from its zod schema);
// - schema/openapi.json: the HTTP API (OpenAPI 3.1, from the route table);
// - src/client/api-types.ts: the typed client's types, generated from schema/openapi.json by openapi-typescript.
// Tests keep each file equal to what this script writes.
import { writeFileSync } from 'node:fs'
import { workflowJsonSchema } from '../dist/index.js'
import { openApiDocument } from '../dist/server.js'
import { clientTypes } from './client-types.mjs'

const write = (path, text) => {
  const url = new URL(path, import.meta.url)
  writeFileSync(url, text)
  console.log(`wrote ${url.pathname}`)
}
write('../schema/workflow.schema.json', JSON.stringify(workflowJsonSchema(), null, 2) + '\n')
const document = openApiDocument()
write('../schema/openapi.json', JSON.stringify(document, null, 2) + '\n')
write('../src/client/api-types.ts', await clientTypes(document))
