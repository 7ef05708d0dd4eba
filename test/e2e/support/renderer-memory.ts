/** Resident memory of the Chromium renderer processes this test process launched (Linux /proc). */
import { readdirSync, readFileSync } from 'node:fs';

function children(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid) ?? [];
      list.push(Number(name));
      map.set(ppid, list);
    } catch {
      /* exited */
    }
  }
  return map;
}

/** Sum of VmRSS (bytes) of `--type=renderer` descendants of this process; null off Linux. */
export function rendererRssBytes(): number | null {
  if (process.platform !== 'linux') return null;
  const tree = children();
  const stack = [...(tree.get(process.pid) ?? [])];
  let total = 0;
  while (stack.length > 0) {
    const pid = stack.pop()!;
    stack.push(...(tree.get(pid) ?? []));
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (rss) total += Number(rss[1]) * 1024;
    } catch {
      /* exited */
    }
  }
  return total;
}
