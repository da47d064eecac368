/**
 * The model port: a language model is any AI SDK `LanguageModelV3`, or a
 * string `provider:model` resolved here. The AI SDK stays behind this folder,
 * so that its next major version touches `src/models/` only.
 */
import type { LanguageModelV3 } from '@ai-sdk/provider'
import { FlotillaError } from '../core/errors.js'

/** A language model as the AI SDK (6.x) defines it: what every provider package returns. */
export type LanguageModel = LanguageModelV3

/** What an agent's `model` may be: a model object, or a `provider:model` string. */
export type ModelSpec = LanguageModel | string

/** Environment variables a provider reads (default `process.env`). */
export type ModelEnv = Readonly<Record<string, string | undefined>>

/** Makes a model of one provider from the text after `provider:`. */
export type ProviderFactory = (model: string, env: ModelEnv) => LanguageModel

function key(env: ModelEnv, name: string, provider: string): string {
  const value = env[name]
  if (value === undefined || value === '') {
    throw new FlotillaError(
      'MODEL_KEY_MISSING',
      `The ${provider} provider needs an API key: set the environment variable ${name}.`,
      { details: { provider, variable: name } },
    )
  }
  return value
}

/**
 * A model whose provider package is imported on its first call: naming a
 * model costs nothing until it is used (the packages weigh some 20 MB), and
 * a process that runs no language-model agent never loads them.
 */
function lazyModel(provider: string, modelId: string, load: () => Promise<LanguageModelV3>): LanguageModelV3 {
  let loaded: Promise<LanguageModelV3> | undefined
  const model = (): Promise<LanguageModelV3> => (loaded ??= load())
  return {
    specificationVersion: 'v3',
    provider,
    modelId,
    get supportedUrls() {
      return model().then((m) => m.supportedUrls)
    },
    doGenerate: async (options) => (await model()).doGenerate(options),
    doStream: async (options) => (await model()).doStream(options),
  }
}

const providers = new Map<string, ProviderFactory>([
  [
    'openai',
    (model, env) => {
      const apiKey = key(env, 'OPENAI_API_KEY', 'openai')
      return lazyModel('openai.responses', model, async () =>
        (await import('@ai-sdk/openai')).createOpenAI({
          apiKey,
          ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
        })(model),
      )
    },
  ],
  [
    'anthropic',
    (model, env) => {
      const apiKey = key(env, 'ANTHROPIC_API_KEY', 'anthropic')
      return lazyModel('anthropic.messages', model, async () =>
        (await import('@ai-sdk/anthropic')).createAnthropic({
          apiKey,
          ...(env.ANTHROPIC_BASE_URL ? { baseURL: env.ANTHROPIC_BASE_URL } : {}),
        })(model),
      )
    },
  ],
  [
    'openai-compatible',
    (rest, env) => {
      const hash = rest.lastIndexOf('#')
      const baseURL = hash > 0 ? rest.slice(0, hash) : ''
      const model = hash > 0 ? rest.slice(hash + 1) : ''
      if (!/^https?:\/\/[^\s#]+$/.test(baseURL) || model === '') {
        throw new FlotillaError(
          'MODEL_INVALID',
          `"openai-compatible:${rest}" is not <base URL>#<model>; for example openai-compatible:http://127.0.0.1:11434/v1#llama3.2 (Ollama).`,
          { details: { model: `openai-compatible:${rest}` } },
        )
      }
      const apiKey = env.OPENAI_COMPATIBLE_API_KEY
      return lazyModel('openai-compatible.chat', model, async () =>
        (await import('@ai-sdk/openai-compatible'))
          .createOpenAICompatible({
            name: 'openai-compatible',
            baseURL,
            includeUsage: true,
            ...(apiKey ? { apiKey } : {}),
          })
          .chatModel(model),
      )
    },
  ],
])

/**
 * Adds (or replaces) a provider under `name`, so that `name:<model>` strings
 * resolve through `factory`. The built-in ones are `openai`, `anthropic` and
 * `openai-compatible`.
 *
 * @example
 * ```ts
 * import { createOpenAI } from '@ai-sdk/openai'
 * registerProvider('groq', (model, env) => createOpenAI({ baseURL: 'https://api.groq.com/openai/v1', apiKey: env.GROQ_API_KEY })(model))
 * ```
 */
export function registerProvider(name: string, factory: ProviderFactory): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name))
    throw new FlotillaError('VALIDATION_FAILED', `Provider name "${name}" must be lowercase letters, digits and "-".`, {
      details: { provider: name },
    })
  providers.set(name, factory)
}

/** The provider names a model string may start with. */
export function providerNames(): string[] {
  return [...providers.keys()]
}

/**
 * The model a spec names: a model object is returned as is; a string
 * `provider:model` is made by that provider, with its key from `env`
 * (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`; `OPENAI_COMPATIBLE_API_KEY` is
 * optional). Fails with `MODEL_INVALID` (malformed, unknown provider) or
 * `MODEL_KEY_MISSING` (naming the variable).
 *
 * @example
 * ```ts
 * const model = resolveModel('openai-compatible:http://127.0.0.1:11434/v1#llama3.2')
 * ```
 */
export function resolveModel(spec: ModelSpec, env: ModelEnv = process.env): LanguageModel {
  if (
    typeof spec === 'object' &&
    spec !== null &&
    (spec as { specificationVersion?: unknown }).specificationVersion === 'v3'
  )
    return spec
  if (typeof spec !== 'string') {
    throw new FlotillaError(
      'MODEL_INVALID',
      'A model must be an AI SDK 6 language model (specificationVersion "v3") or a string provider:model.',
      { details: { model: String(spec) } },
    )
  }
  const colon = spec.indexOf(':')
  const provider = colon > 0 ? spec.slice(0, colon) : ''
  const rest = colon > 0 ? spec.slice(colon + 1) : ''
  const factory = providers.get(provider)
  if (factory === undefined || rest === '') {
    const known = providerNames().join(', ')
    const why = colon <= 0 || rest === '' ? 'is not provider:model' : `names an unknown provider "${provider}"`
    throw new FlotillaError(
      'MODEL_INVALID',
      `Model "${spec}" ${why} (providers: ${known}); for example openai:gpt-4.1-mini.`,
      { details: { model: spec, providers: providerNames() } },
    )
  }
  return factory(rest, env)
}

/** `provider:modelId` of a model, as prices and traces name it. */
export function modelName(model: LanguageModel): string {
  return `${providerOf(model.provider)}:${model.modelId}`
}

/** The provider of a model's provider id ("openai.chat" → "openai"), split once per id. */
const providerIds = new Map<string, string>()
export function providerOf(providerId: string): string {
  let name = providerIds.get(providerId)
  if (name === undefined) {
    if (providerIds.size >= 256) providerIds.clear()
    providerIds.set(providerId, (name = providerId.split('.')[0] ?? providerId))
  }
  return name
}
