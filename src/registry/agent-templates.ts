import { FlotillaError } from '../core/errors.js'
import { isAgentTemplate, type AgentTemplate } from '../agents/agent-template.js'
import { compareSemver } from './semver.js'

/** What {@link AgentTemplates.resolve} found: a template, and the system prompt of a fallback for a specialty. */
export interface ResolvedTemplate {
  readonly template: AgentTemplate
  /** Set when a generic template stands in for `specialty`: the specialty's system prompt. */
  readonly system?: string
  /** True when the generic template stands in. */
  readonly fallback: boolean
}

/**
 * The registered agent templates, by name and version (the highest version
 * is the default). Registered like agents (`registry.templates.register`),
 * listed by the registry, the HTTP API and `flotilla agent templates`.
 *
 * @example
 * ```ts
 * const templates = new AgentTemplates()
 * templates.register(defineAgentTemplate({ name: 'analyst', model: 'openai:gpt-4.1-mini' }))
 * templates.list().map((t) => t.name) // ['analyst']
 * ```
 */
export class AgentTemplates {
  private readonly byName = new Map<string, Map<string, AgentTemplate>>()

  /** Registers a template; the same name and version again replaces it only with `{ replace: true }` (`VALIDATION_FAILED`). */
  register(template: AgentTemplate, options: { replace?: boolean } = {}): void {
    if (!isAgentTemplate(template))
      throw new FlotillaError('AGENT_TEMPLATE_INVALID', 'register needs a template made by defineAgentTemplate.')
    let versions = this.byName.get(template.name)
    if (versions === undefined) this.byName.set(template.name, (versions = new Map()))
    const existing = versions.get(template.version)
    if (existing !== undefined && existing !== template && options.replace !== true)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `Agent template "${template.name}@${template.version}" is already registered; pass { replace: true } or bump its version.`,
        { details: { template: template.name, version: template.version } },
      )
    versions.set(template.version, template)
  }

  /** Removes a template (one version, or all); `false` if it was not there. */
  unregister(name: string, version?: string): boolean {
    const versions = this.byName.get(name)
    if (versions === undefined) return false
    const gone = version === undefined ? versions.size > 0 : versions.delete(version)
    if (version === undefined || versions.size === 0) this.byName.delete(name)
    return gone
  }

  /** A template (its highest version, or `version`), or `undefined`. */
  get(name: string, version?: string): AgentTemplate | undefined {
    const versions = this.byName.get(name)
    if (versions === undefined) return undefined
    if (version !== undefined) return versions.get(version)
    return [...versions.values()].sort((a, b) => compareSemver(b.version, a.version))[0]
  }

  /** Every registered template version, by name then version. */
  list(): AgentTemplate[] {
    return [...this.byName.values()]
      .flatMap((v) => [...v.values()])
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : compareSemver(a.version, b.version)))
  }

  /**
   * The template for `name`; without one, the generic template `fallback`
   * (a template with a `specialty` prompt) standing in for it with the
   * specialty's system prompt. Neither: `AGENT_TEMPLATE_NOT_FOUND`.
   */
  resolve(name: string, options: { fallback?: string } = {}): ResolvedTemplate {
    const own = this.get(name)
    if (own !== undefined) return { template: own, fallback: false }
    const generic = options.fallback === undefined ? undefined : this.get(options.fallback)
    const prompt = generic?.config.specialty
    if (generic !== undefined && prompt !== undefined)
      return { template: generic, system: prompt(name), fallback: true }
    const known = this.list().map((t) => t.name)
    throw new FlotillaError(
      'AGENT_TEMPLATE_NOT_FOUND',
      `No agent template "${name}"${options.fallback === undefined ? '' : ` and no generic template "${options.fallback}" (one with a specialty prompt) to fall back to`}. Registered: ${known.join(', ') || '(none)'}.`,
      { details: { template: name, ...(options.fallback === undefined ? {} : { fallback: options.fallback }) } },
    )
  }
}
