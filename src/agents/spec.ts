/**
 * The agent spec: the file (`agent.json`, `agent.yaml`) that says which code
 * an agent runs, with which tools, permissions, limits and environment. One
 * zod schema validates it wherever it comes from (a file, an API call, a
 * parent spawning a child).
 */
import { scalingSchema } from './scaling.js'
import { readFile } from 'node:fs/promises'
import { dirname, extname, isAbsolute, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { z } from 'zod'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import { parsePermissions, type Permission } from '../security/permissions.js'

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/i
const VERSION = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/

const names = (what: string) => z.array(z.string().min(1, `each ${what} must be a non-empty string`))

const permissionsSchema = z.array(z.unknown()).transform((value, ctx): readonly Permission[] => {
  try {
    return parsePermissions(value, 'permissions')
  } catch (e) {
    const pattern = isFlotillaError(e) ? e.details.pattern : undefined
    const at = value.findIndex(
      (p) => typeof p === 'object' && p !== null && (p as { resource?: unknown }).resource === pattern,
    )
    const named = isFlotillaError(e) && typeof e.details.field === 'string' ? e.details.field : undefined
    const field = named ?? (pattern !== undefined && at >= 0 ? `permissions[${at}].resource` : 'permissions')
    const m = /^permissions(?:\[(\d+)\])?(?:\.(\w+))?$/.exec(field)
    const path =
      m === null ? [] : [...(m[1] === undefined ? [] : [Number(m[1])]), ...(m[2] === undefined ? [] : [m[2]])]
    const message = e instanceof Error ? e.message.replace(`${field} `, '').replace(/\.$/, '') : String(e)
    ctx.addIssue({ code: 'custom', message, path })
    return z.NEVER
  }
})

/** Resource limits as written in a spec: positive numbers, each optional (omitted = unlimited). */
export const resourceLimitsSchema = z
  .object({
    memoryMb: z.number().positive().optional(),
    cpuMs: z.number().positive().optional(),
    storageMb: z.number().positive().optional(),
  })
  .strict()

const budgetSchema = z
  .object({
    tokens: z.number().nonnegative().optional(),
    costUsd: z.number().nonnegative().optional(),
    calls: z.number().nonnegative().optional(),
  })
  .strict()

/**
 * The `model:` block of an agent spec: a language-model agent without a
 * module ({@link defineLlmAgent}'s options that JSON can hold). The answer is
 * the model's text, or an object matching `output` (a JSON Schema); tools
 * come from `tools` and `toolsModule`.
 */
export const llmSpecSchema = z
  .object({
    model: z
      .string()
      .min(1, 'must name the model as provider:model (openai:gpt-4.1-mini, openai-compatible:<base URL>#<model>)'),
    system: z.string().optional(),
    temperature: z.number().min(0).max(2).optional(),
    maxTokens: z.number().int().positive().optional(),
    maxSteps: z.number().int().positive().optional(),
    maxRetries: z.number().int().nonnegative().optional(),
    confidence: z.boolean().optional(),
    /** Structured output: a JSON Schema the answer must match (one correction, then MODEL_OUTPUT_INVALID). */
    output: z.record(z.string(), z.unknown()).optional(),
    /** Streams each model call (progress as the text arrives). */
    stream: z.boolean().optional(),
    thinking: z
      .object({
        budgetTokens: z.number().int().positive().optional(),
        effort: z.enum(['low', 'medium', 'high']).optional(),
      })
      .strict()
      .optional(),
    budget: z
      .object({ task: budgetSchema.optional(), run: budgetSchema.optional(), agent: budgetSchema.optional() })
      .strict()
      .optional(),
    prices: z
      .record(
        z.string(),
        z
          .object({
            input: z.number().nonnegative(),
            output: z.number().nonnegative(),
            cachedInput: z.number().nonnegative().optional(),
          })
          .strict(),
      )
      .optional(),
    mcp: z
      .array(
        z.union([
          z
            .object({
              name: z.string(),
              command: z.string(),
              args: z.array(z.string()).optional(),
              env: z.record(z.string(), z.string()).optional(),
              cwd: z.string().optional(),
            })
            .strict(),
          z
            .object({ name: z.string(), url: z.string(), headers: z.record(z.string(), z.string()).optional() })
            .strict(),
        ]),
      )
      .optional(),
    reflection: z.object({ rounds: z.number().int().positive(), critic: z.string().optional() }).strict().optional(),
    explore: z
      .object({ k: z.number().int().min(2), choose: z.enum(['vote', 'critic']).optional() })
      .strict()
      .optional(),
  })
  .strict()

/** The `model:` block of an agent spec. */
export type LlmSpec = z.output<typeof llmSpecSchema>

/**
 * The schema of an agent spec. Defaults: `version` 1.0.0, `export`
 * "default", empty lists and maps. `runtime` and `permissions` stay unset
 * when omitted: a child then takes its parent's, a root the supervisor's
 * default runtime (`process` in an orchestrator) and no permissions.
 *
 * @example
 * ```ts
 * const spec = agentSpecSchema.parse({ name: 'scanner', module: './scanner.mjs' })
 * spec.version // '1.0.0'
 * ```
 */
export const agentSpecSchema = z
  .object({
    name: z.string().regex(NAME, 'must be 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
    version: z.string().regex(VERSION, 'must be a semantic version like 1.2.0').default('1.0.0'),
    description: z.string().optional(),
    module: z
      .string()
      .min(1, 'must name the module holding the agent (a path relative to the spec file, or absolute)')
      .optional(),
    model: llmSpecSchema.optional(),
    export: z.string().min(1).default('default'),
    tools: names('tool').default([]),
    toolsModule: z.string().min(1).optional(),
    permissions: permissionsSchema.optional(),
    limits: resourceLimitsSchema.default({}),
    env: z.record(z.string(), z.string()).default({}),
    /** `tree`: the model budget of the agent and its subtree (carved from its parent's; see docs/models.md). */
    budget: z.object({ tree: budgetSchema.optional() }).strict().optional(),
    parent: z.string().min(1).optional(),
    runtime: z.enum(['inprocess', 'process', 'kubernetes']).optional(),
    capabilities: names('capability').default([]),
    tags: names('tag').default([]),
    scaling: scalingSchema.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.module === undefined) === (s.model === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['module'],
        message:
          s.module === undefined
            ? 'must name the module holding the agent, or give a "model" block (a language-model agent)'
            : 'and "model" exclude each other: a spec runs a module\'s agent or a language model',
      })
    }
  })

/** An agent spec as written (defaults not applied yet). */
export type AgentSpecInput = z.input<typeof agentSpecSchema>

/** A validated agent spec; `module` and `toolsModule` are absolute paths (`module` is `''` for a `model:` spec). */
export type AgentSpec = Omit<z.output<typeof agentSpecSchema>, 'module'> & { module: string }

/** Options of {@link parseAgentSpec}. */
export interface ParseAgentSpecOptions {
  /** Names the spec in error messages, and (when a file path) is the base of relative module paths. @default "(spec)" */
  source?: string
  /** Folder that relative module paths are resolved against. @default the folder of `source` when it is a file, else the current folder */
  baseDir?: string
}

function specError(
  source: string,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): FlotillaError {
  return new FlotillaError('AGENT_SPEC_INVALID', `${source}: ${message}`, { details: { source, ...details }, cause })
}

function absoluteModule(path: string, baseDir: string): string {
  if (path.startsWith('file:')) return fileURLToPath(path)
  return isAbsolute(path) ? path : resolve(baseDir, path)
}

/**
 * Validates an agent spec (an object, or YAML/JSON text) and resolves its
 * module paths to absolute ones. A failure is `AGENT_SPEC_INVALID`, naming
 * the source and the field.
 *
 * @example
 * ```ts
 * const spec = parseAgentSpec({ name: 'scanner', module: './scanner.mjs', tools: ['grep'] }, { source: 'agents/scanner.json' })
 * spec.module // '/…/agents/scanner.mjs'
 * ```
 */
export function parseAgentSpec(value: unknown, options: ParseAgentSpecOptions = {}): AgentSpec {
  const source = options.source ?? '(spec)'
  let data = value
  if (typeof value === 'string') {
    try {
      data = parseYaml(value, { prettyErrors: true, uniqueKeys: true }) as unknown
    } catch (e) {
      const where =
        e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : ''
      throw specError(
        source,
        `not valid YAML/JSON${where}: ${(e as Error).message.split('\n')[0].replace(/:\s*$/, '')}.`,
        {},
        e,
      )
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw specError(
      source,
      `an agent spec is a mapping with at least "name" and "module", not ${Array.isArray(data) ? 'a list' : String(data)}.`,
    )
  }
  const parsed = agentSpecSchema.safeParse(data)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field =
      issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') ||
      '(root)'
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length === 0 ? 'the spec' : `"${field}"`
      const shape =
        issue.path.length === 0
          ? agentSpecSchema.shape
          : issue.path[0] === 'model'
            ? llmSpecSchema.shape
            : issue.path[0] === 'budget'
              ? issue.path.length === 1
                ? { tree: true }
                : budgetSchema.shape
              : resourceLimitsSchema.shape
      throw specError(
        source,
        `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')} in ${where}; the fields are: ${Object.keys(shape).join(', ')}.`,
        { field: issue.keys[0] },
      )
    }
    const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1)
    throw specError(source, `field "${field}": ${message}.`, { field })
  }
  const baseDir = options.baseDir ?? (options.source === undefined ? process.cwd() : dirname(resolve(options.source)))
  const spec = parsed.data
  return {
    ...spec,
    module: spec.module === undefined ? '' : absoluteModule(spec.module, baseDir),
    ...(spec.toolsModule === undefined ? {} : { toolsModule: absoluteModule(spec.toolsModule, baseDir) }),
  }
}

/**
 * Reads and validates an agent spec file (`.json`, `.yaml` or `.yml`);
 * module paths are resolved against the file's folder. A missing file is
 * `FILE_NOT_FOUND`; anything wrong inside it `AGENT_SPEC_INVALID`.
 *
 * @example
 * ```ts
 * const spec = await loadAgentSpec('agents/scanner.yaml')
 * ```
 */
export async function loadAgentSpec(path: string): Promise<AgentSpec> {
  const full = resolve(path)
  const ext = extname(full).toLowerCase()
  if (!['.json', '.yaml', '.yml'].includes(ext)) {
    throw specError(path, 'agent spec files end in .json, .yaml or .yml.', { path })
  }
  let text: string
  try {
    text = await readFile(full, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new FlotillaError(
      'FILE_NOT_FOUND',
      `Agent spec "${path}" ${code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(e as Error).message}`}.`,
      { details: { path }, cause: e },
    )
  }
  return parseAgentSpec(text, { source: path, baseDir: dirname(full) })
}
