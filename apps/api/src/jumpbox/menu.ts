/** One line of the jumpbox menu: an instance that has a container. */
export interface MenuEntry {
  instanceId: string;
  name: string;
  ownerName: string;
  containerId: string;
  nodeName: string;
  observed: string;
}

/**
 * The list as the seed shows it, `<n>  <instance name>-<container id, 12>-<node>`, with the state, and
 * for admins whose instance it is.
 */
export function renderMenu(entries: MenuEntry[], showOwner: boolean): string {
  const width = String(entries.length).length;
  const lines = entries.map((e, i) => {
    const label = `${e.name}-${e.containerId.slice(0, 12)}-${e.nodeName}`;
    const owner = showOwner ? `  ${e.ownerName}` : '';
    return `  ${String(i + 1).padStart(width)}  ${label}  (${e.observed})${owner}`;
  });
  return `${lines.join('\r\n')}\r\n`;
}

export const PROMPT = 'Choose an instance by number (q to quit): ';

/** What a line typed at the prompt means. */
export function readChoice(
  line: string,
  count: number,
): { kind: 'quit' } | { kind: 'pick'; index: number } | { kind: 'bad'; message: string } {
  if (line === 'q' || line === 'Q' || line === 'quit' || line === 'exit') return { kind: 'quit' };
  const n = /^\d{1,6}$/.test(line) ? Number(line) : Number.NaN;
  if (Number.isInteger(n) && n >= 1 && n <= count) return { kind: 'pick', index: n - 1 };
  return { kind: 'bad', message: `Type a number from 1 to ${count}, or q to quit.\r\n` };
}
