import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../cli/run-cli.js'

/** The built child entry of the process runtime. */
export const CHILD_ENTRY = join(ROOT, 'dist/runtimes/process/child-main.js')

/** Folders of src/ whose built output the runtime tests and fixtures load. */
const WATCHED = ['core', 'resilience', 'security', 'agents', 'runtimes', 'cli']

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

function builtAt(): number {
  try {
    return statSync(CHILD_ENTRY).mtimeMs
  } catch {
    return 0
  }
}

function stale(folders: readonly string[]): boolean {
  const built = builtAt()
  return folders.some((d) => newestMtime(join(ROOT, 'src', d)) > built)
}

function lockAge(lock: string): number {
  try {
    return statSync(lock).mtimeMs
  } catch {
    return Date.now()
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Builds dist/ when it is missing or older than the sources the process
 * runtime's child and the fixture agents load (tests load the child from
 * dist/, like CI which builds first). One build at a time across test files
 * (a lock folder); type errors elsewhere in the project do not stop tsc from
 * emitting, so only a missing output counts as a failure. `folders` (of
 * src/) are the sources to compare with: `['']` for all of them (the CLI
 * loads everything).
 */
export function ensureFreshBuild(folders: readonly string[] = WATCHED): void {
  if (!stale(folders)) return
  mkdirSync(join(ROOT, 'dist'), { recursive: true })
  const lock = join(ROOT, 'dist/.build-lock')
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      // A lock older than 3 minutes was left by a test process that died while building.
      if (Date.now() - lockAge(lock) > 180_000) rmSync(lock, { recursive: true, force: true })
      else sleepSync(100)
    }
  }
  try {
    if (!stale(folders)) return
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: ROOT,
        stdio: 'pipe',
      })
    } catch (e) {
      const out = String((e as { stdout?: Buffer }).stdout ?? '')
      if (builtAt() === 0) throw new Error(`the build produced no ${CHILD_ENTRY}:\n${out}`)
    }
  } finally {
    rmdirSync(lock)
  }
}
