import { readdir, stat } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'
import { FlotillaError } from '../../core/errors.js'

/**
 * Every file under `folder` (recursively; folders named `node_modules` or
 * starting with `.`, and links to folders, are skipped) whose path relative to `folder`, written
 * with `/`, matches `pattern`; absolute paths, sorted. Throws
 * `FILE_NOT_FOUND` when `folder` is not a folder.
 */
export async function listMatchingFiles(folder: string, pattern: RegExp): Promise<string[]> {
  const root = resolve(folder)
  try {
    if (!(await stat(root)).isDirectory()) throw new Error('not a folder')
  } catch {
    throw new FlotillaError(
      'FILE_NOT_FOUND',
      `Folder "${folder}" does not exist or is not a folder (looked for ${root}).`,
      { details: { folder: root } },
    )
  }
  const out: string[] = []
  const walk = async (dir: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch {
      return // removed while walking
    }
    for (const e of entries) {
      const full = join(dir, e.name)
      const isDir = e.isDirectory() // a link to a folder is not followed (it could loop)
      const isFile =
        e.isFile() || (e.isSymbolicLink() && ((await stat(full).catch(() => undefined))?.isFile() ?? false))
      if (isDir) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) await walk(full)
      } else if (isFile && pattern.test(toPosix(relative(root, full)))) {
        out.push(full)
      }
    }
  }
  await walk(root)
  return out.sort()
}

/** `a\b` → `a/b` on Windows; unchanged elsewhere. */
export function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/')
}
