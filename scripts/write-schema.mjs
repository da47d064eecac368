// Writes schema/workflow.schema.json from the zod schema of the workflow format.
// Run after `npm run build`: `npm run schema`. A test keeps the file equal to the schema.
import { writeFileSync } from 'node:fs'
import { workflowJsonSchema } from '../dist/index.js'

const url = new URL('../schema/workflow.schema.json', import.meta.url)
writeFileSync(url, JSON.stringify(workflowJsonSchema(), null, 2) + '\n')
console.log(`wrote ${url.pathname}`)
