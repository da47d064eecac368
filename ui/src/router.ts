import { useEffect, useState } from 'react'

/** The page's path (`/runs/run_x`), kept in the address bar with history.pushState. */
export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname)
  useEffect(() => {
    const update = (): void => setPath(window.location.pathname)
    window.addEventListener('popstate', update)
    window.addEventListener('flotilla:navigate', update)
    return () => {
      window.removeEventListener('popstate', update)
      window.removeEventListener('flotilla:navigate', update)
    }
  }, [])
  return path
}

/** Goes to `path` without reloading the page. */
export function navigate(path: string): void {
  if (path === window.location.pathname + window.location.search) return
  window.history.pushState(null, '', path)
  window.dispatchEvent(new Event('flotilla:navigate'))
}

/** Props of a link that navigates inside the dashboard (a real `<a href>`, so it opens in a new tab too). */
export function linkProps(path: string): { href: string; onClick: (e: React.MouseEvent) => void } {
  return {
    href: path,
    onClick: (e) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return
      e.preventDefault()
      navigate(path)
    },
  }
}
