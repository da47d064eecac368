import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** The package root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** The built CLI. */
export const MAIN = join(ROOT, 'dist/cli/main.js')

/** Builds the package when dist/cli/main.js is missing (CI builds before testing). */
export function ensureBuilt(): void {
  if (!existsSync(MAIN)) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
}

/** What a CLI process did. */
export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Environment changes for a child process: `undefined` removes a variable. */
export type EnvChanges = Record<string, string | undefined>

/** The environment of a CLI child process: this one's (vitest sets FLOTILLA_STORE=memory), no colour, with `changes`. */
export function childEnv(changes: EnvChanges = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

/** Runs `node dist/cli/main.js ...args` as a child process (never a terminal). */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number; env?: EnvChanges } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      {
        cwd: options.cwd ?? ROOT,
        timeout: options.timeoutMs ?? 20_000,
        env: childEnv(options.env),
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
        resolvePromise({ code, stdout, stderr })
      },
    )
  })
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'flotilla-cli-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * The import lines an agents module outside the package needs: `defineAgent`
 * and friends from the built package, and zod, by absolute file URL.
 */
export function agentImports(): string {
  const flotilla = pathToFileURL(join(ROOT, 'dist/index.js')).href
  const zod = pathToFileURL(join(ROOT, 'node_modules/zod/index.js')).href
  return `import { defineAgent, nonRetryable } from '${flotilla}'\nimport { z } from '${zod}'\n`
}

/** Writes files (path → text) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
}

/** True when the text holds a JavaScript stack frame line. */
export function hasStack(text: string): boolean {
  return /\n\s+at .+[:(]/.test(text)
}

/**
 * Starts the CLI, sends SIGINT once stdout contains `when`, and resolves
 * with what the process did.
 */
export function interruptCli(
  args: readonly string[],
  when: string,
  options: { cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: options.cwd ?? ROOT, env: childEnv() })
    let stdout = ''
    let stderr = ''
    let sent = false
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (!sent && stdout.includes(when)) {
        sent = true
        child.kill('SIGINT')
      }
    })
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(killer)
      resolvePromise({ code: code ?? -1, stdout, stderr })
    })
  })
}

/** A CLI process started in the background, with what it printed so far. */
export interface BackgroundCli {
  child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when stdout contains `text` (rejects if the process exits first or after `timeoutMs`). */
  waitFor(text: string, timeoutMs?: number): Promise<void>
  /** Resolves with the exit code, or the signal that ended the process. */
  exited: Promise<number | NodeJS.Signals>
}

/** Starts the CLI without waiting for it (never a terminal). */
export function spawnCli(args: readonly string[], options: { cwd?: string; env?: EnvChanges } = {}): BackgroundCli {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: options.cwd ?? ROOT, env: childEnv(options.env) })
  let stdout = ''
  let stderr = ''
  const waiters: { text: string; resolve: () => void }[] = []
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    for (const w of waiters.splice(0)) {
      if (stdout.includes(w.text)) w.resolve()
      else waiters.push(w)
    }
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | NodeJS.Signals>((resolvePromise) =>
    child.on('close', (code, signal) => resolvePromise(code ?? signal ?? -1)),
  )
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor(text, timeoutMs = 15_000) {
      if (stdout.includes(text)) return Promise.resolve()
      return new Promise((resolvePromise, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for "${text}"; stdout: ${stdout}; stderr: ${stderr}`)),
          timeoutMs,
        )
        void exited.then((code) => {
          clearTimeout(timer)
          reject(
            new Error(`the process exited (${code}) before printing "${text}"; stdout: ${stdout}; stderr: ${stderr}`),
          )
        })
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(timer)
            resolvePromise()
          },
        })
      })
    },
  }
}

/** The admin key `flotilla serve` prints when it creates one. */
export const SERVE_KEY = /flt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}/

/** Starts `flotilla serve --port 0 ...args` and waits until it listens: its process, URL and printed admin key. */
export async function serveCli(
  args: readonly string[],
  options: { cwd?: string; env?: EnvChanges; timeoutMs?: number } = {},
): Promise<{ server: BackgroundCli; url: string; key: string }> {
  const server = spawnCli(['serve', '--port', '0', ...args], options)
  await server.waitFor('Ctrl-C or SIGTERM stops it.', options.timeoutMs ?? 20_000)
  const url = /listening on (http:\/\/\S+)/.exec(server.stdout())?.[1] ?? ''
  const key = SERVE_KEY.exec(server.stdout())?.[0] ?? ''
  return { server, url, key }
}
