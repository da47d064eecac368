import { createHash } from 'node:crypto'
import { FlotillaError, isFlotillaError } from '../core/errors.js'
import type { Budget } from '../models/budget.js'
import { modelName, type ModelSpec } from '../models/providers.js'
import type { ModelPrice } from '../models/pricing.js'
import { inheritPermissions, parsePermissions, type Permission } from '../security/permissions.js'
import type { AnyAgentDefinition, Schema } from './define-agent.js'
import { defineLlmAgent, llmAgentBudget, type LlmBudgets } from './llm-agent.js'
import type { AnyToolDefinition } from './tools.js'

/** What a template may set and a spawn may override: a language-model agent's configuration. */
export interface AgentTemplateSettings {
  /** Any AI SDK 6 language model, or `provider:model`. */
  model: ModelSpec
  /** The system prompt. */
  system?: string
  temperature?: number
  maxTokens?: number
  /** Most model calls of one task's tool loop. @default 10 */
  maxSteps?: number
  /** Tools the model may call (each call checked against the permissions). */
  tools?: readonly AnyToolDefinition[]
  /** What an instance may reach; carved from the spawning agent's. Left out: calling its own tools. */
  permissions?: readonly Permission[]
  /** Model budgets of an instance, each no more than the spawning agent's. */
  budget?: LlmBudgets
  /** Structured output. */
  output?: Schema
  /** Adds a self-reported confidence (`{ answer, confidence }`). @default false */
  confidence?: boolean
  /** Prices by `provider:model` prefix, over the shipped table. */
  prices?: Readonly<Record<string, ModelPrice>>
}

/** The configuration given to {@link defineAgentTemplate}. */
export interface AgentTemplateConfig extends AgentTemplateSettings {
  /** The template's name (what `ctx.spawn({ template })` and plans name). */
  name: string
  /** @default "1.0.0" */
  version?: string
  description?: string
  capabilities?: readonly string[]
  tags?: readonly string[]
  /**
   * Makes this a generic template: a spawn for a specialty that has no
   * template of its own may fall back to it, with this system prompt for
   * the specialty.
   */
  specialty?: (specialty: string) => string
}

/** A validated agent template, as returned by {@link defineAgentTemplate}. */
export interface AgentTemplate {
  readonly kind: 'flotilla.agent-template'
  readonly name: string
  readonly version: string
  readonly description: string | undefined
  readonly config: Readonly<AgentTemplateConfig>
}

/** What a spawn may change of a template (never its name). */
export type TemplateOverrides = Partial<AgentTemplateSettings>

/** What an instance is carved from: the spawning agent's permissions and budgets. */
export interface SpawnParent {
  /** The spawning agent's name (for messages). */
  readonly name: string
  readonly permissions: readonly Permission[]
  readonly budget: LlmBudgets | undefined
}

const OVERRIDE_KEYS = new Set([
  'model',
  'system',
  'temperature',
  'maxTokens',
  'maxSteps',
  'tools',
  'permissions',
  'budget',
  'output',
  'confidence',
  'prices',
])

function templateError(template: string, what: string, cause?: unknown): never {
  throw new FlotillaError('AGENT_TEMPLATE_INVALID', `Agent template "${template}": ${what}.`, {
    details: { template },
    ...(cause === undefined ? {} : { cause }),
  })
}

/**
 * Defines a named, versioned agent template: the configuration of a
 * language-model agent (model, system prompt, temperature, tools,
 * permissions, budget) from which agents are spawned at run time with
 * `ctx.spawn({ template, overrides })` or named by a plan. The configuration
 * is checked now, as {@link defineLlmAgent} would (`AGENT_TEMPLATE_INVALID`).
 *
 * @example
 * ```ts
 * const researcher = defineAgentTemplate({
 *   name: 'researcher',
 *   model: 'openai:gpt-4.1-mini',
 *   temperature: 0.3,
 *   system: 'You are a thorough researcher.',
 *   budget: { task: { costUsd: 0.05 } },
 * })
 * ```
 */
export function defineAgentTemplate(config: AgentTemplateConfig): AgentTemplate {
  if (typeof config !== 'object' || config === null)
    throw new FlotillaError('AGENT_TEMPLATE_INVALID', 'defineAgentTemplate needs a configuration object.')
  const { specialty, ...llm } = config
  if (specialty !== undefined && typeof specialty !== 'function')
    templateError(String(config.name), 'specialty must be a function (specialty) => system prompt')
  try {
    defineLlmAgent({ ...llm })
  } catch (e) {
    if (isFlotillaError(e)) templateError(String(config.name), e.message.replace(/^Agent "[^"]*": /, ''), e)
    throw e
  }
  return Object.freeze({
    kind: 'flotilla.agent-template',
    name: config.name,
    version: config.version ?? '1.0.0',
    description: config.description,
    config: Object.freeze({ ...config }),
  })
}

/** What listings show of a template (the registry's catalog, `GET /api/v1/agent-templates`, `flotilla agent templates`). */
export interface AgentTemplateInfo {
  name: string
  version: string
  description?: string
  /** `provider:model` (a model object as `provider:modelId`). */
  model: string
  /** Names of the tools its instances may call. */
  tools: string[]
  /** The permissions it asks for (carved from the spawner's); empty: calling its own tools. */
  permissions: Permission[]
  /** True for a generic template (one with a `specialty` prompt, standing in for specialties without a template). */
  generic: boolean
}

/** The JSON-safe listing of a template. */
export function templateInfo(t: AgentTemplate): AgentTemplateInfo {
  const model = t.config.model
  return {
    name: t.name,
    version: t.version,
    ...(t.description === undefined ? {} : { description: t.description }),
    model: typeof model === 'string' ? model : modelName(model),
    tools: (t.config.tools ?? []).map((tool) => tool.name),
    permissions: (t.config.permissions ?? []).map((p) => ({ resource: p.resource, actions: [...p.actions] })),
    generic: t.config.specialty !== undefined,
  }
}

/** True for a value made by {@link defineAgentTemplate}. */
export function isAgentTemplate(value: unknown): value is AgentTemplate {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'flotilla.agent-template'
}

/** Checks a spawn's overrides: only template settings (`AGENT_TEMPLATE_INVALID` names an unknown key). */
export function checkOverrides(template: string, overrides: unknown): TemplateOverrides {
  if (overrides === undefined) return {}
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))
    templateError(template, 'overrides must be an object of template settings')
  for (const key of Object.keys(overrides))
    if (!OVERRIDE_KEYS.has(key))
      templateError(template, `"${key}" cannot be overridden (overridable: ${[...OVERRIDE_KEYS].join(', ')})`)
  return overrides as TemplateOverrides
}

/**
 * Carves budgets: each limit the parent sets bounds the child's; a limit the
 * child leaves out takes the parent's. More than the parent holds is
 * `AGENT_TEMPLATE_ESCALATION`.
 */
export function carveBudgets(
  parent: LlmBudgets | undefined,
  asked: LlmBudgets | undefined,
  child: string,
): LlmBudgets | undefined {
  if (parent === undefined) return asked
  const out: LlmBudgets = {}
  const over: string[] = []
  for (const scope of ['task', 'run', 'agent'] as const) {
    const p = parent[scope]
    const a = asked?.[scope]
    if (p === undefined) {
      if (a !== undefined) out[scope] = a
      continue
    }
    const b: Budget = { ...a }
    for (const key of ['tokens', 'costUsd', 'calls'] as const) {
      const pv = p[key]
      if (pv === undefined) continue
      const av = a?.[key]
      if (av === undefined) b[key] = pv
      else if (av > pv) over.push(`budget.${scope}.${key} ${av} > ${pv}`)
    }
    out[scope] = b
  }
  if (over.length > 0)
    throw new FlotillaError(
      'AGENT_TEMPLATE_ESCALATION',
      `"${child}" asks for a larger budget than its parent holds (${over.join(', ')}); ask for at most the parent's budget.`,
      { details: { agent: child, over } },
    )
  return out
}

/** The permissions a template's instance asks for: its own, or calling its tools. */
function askedPermissions(settings: AgentTemplateSettings): readonly Permission[] {
  return settings.permissions ?? (settings.tools ?? []).map((t) => ({ resource: `tool:${t.name}`, actions: ['call'] }))
}

/** Stable JSON of the parts of a configuration that make an instance what it is. */
function fingerprint(template: AgentTemplate, s: AgentTemplateSettings): string {
  return JSON.stringify({
    t: `${template.name}@${template.version}`,
    m: typeof s.model === 'string' ? s.model : `${s.model.provider}:${s.model.modelId}`,
    s: s.system ?? null,
    te: s.temperature ?? null,
    mt: s.maxTokens ?? null,
    ms: s.maxSteps ?? null,
    to: (s.tools ?? []).map((t) => t.name),
    p: s.permissions ?? null,
    b: s.budget ?? null,
    c: s.confidence ?? false,
  })
}

/** An agent made from a template, and what it was carved to. */
export interface TemplateInstance {
  readonly definition: AnyAgentDefinition
  readonly permissions: readonly Permission[]
  readonly budget: LlmBudgets | undefined
}

/**
 * Makes the agent a spawn asks for: the template's settings with the
 * overrides, permissions and budget carved from the parent's (more is
 * `AGENT_TEMPLATE_ESCALATION`, nothing made). Its name is `<base>-<hash>`
 * (`base` defaults to the template's name): the same template, overrides and
 * carving give the same name, so a spawn repeated after a crash makes the
 * same agent again.
 */
export function instantiateTemplate(
  template: AgentTemplate,
  options: { parent: SpawnParent; overrides?: TemplateOverrides; base?: string; system?: string },
): TemplateInstance {
  const { specialty: _specialty, name: _name, version, description, capabilities, tags, ...own } = template.config
  const settings: AgentTemplateSettings = {
    ...own,
    ...(options.system === undefined ? {} : { system: options.system }),
    ...checkOverrides(template.name, options.overrides),
  }
  const label = `Agent "${options.base ?? template.name}" (template "${template.name}")`
  let permissions: readonly Permission[]
  try {
    permissions = inheritPermissions(parsePermissions(options.parent.permissions), askedPermissions(settings), label)
  } catch (e) {
    if (isFlotillaError(e) && e.code === 'PERMISSION_ESCALATION')
      throw new FlotillaError(
        'AGENT_TEMPLATE_ESCALATION',
        `${e.message.replace(/Ask for a subset.*$/, '')}Give "${options.parent.name}" those permissions, or spawn a template that needs less.`,
        { details: { ...e.details, template: template.name, parent: options.parent.name }, cause: e },
      )
    throw e
  }
  const budget = carveBudgets(options.parent.budget, settings.budget, label)
  const hash = createHash('sha256')
    .update(fingerprint(template, { ...settings, permissions, ...(budget === undefined ? {} : { budget }) }))
    .digest('hex')
    .slice(0, 8)
  const base = (options.base ?? template.name).replace(/[^a-z0-9._-]/gi, '-').slice(0, 54)
  const { output, confidence, ...rest } = settings
  const definition = defineLlmAgent({
    ...rest,
    name: `${base}-${hash}`,
    version,
    ...(description === undefined ? {} : { description }),
    ...(capabilities === undefined ? {} : { capabilities }),
    tags: [...(tags ?? []), `template:${template.name}`],
    permissions,
    ...(budget === undefined ? {} : { budget }),
    ...(output === undefined ? {} : { output }),
    ...(confidence === true ? { confidence: true } : {}),
  }) as unknown as AnyAgentDefinition
  return { definition, permissions, budget }
}

/** The spawning side of an agent: its declared permissions and (for a language-model agent) budgets. */
export function spawnParentOf(definition: AnyAgentDefinition): SpawnParent {
  return { name: definition.name, permissions: definition.permissions ?? [], budget: llmAgentBudget(definition) }
}
