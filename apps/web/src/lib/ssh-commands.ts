/**
 * The two ways into an instance through the jumpbox: the menu (`user@host`, then pick) and straight
 * (`user+instance@host`). An admin reaching another user's instance names its owner too.
 */
export function sshCommands(opts: {
  username: string;
  instanceName: string;
  owner?: string | null;
  host: string;
  port: number;
}): { menu: string; direct: string } {
  const port = opts.port === 22 ? '' : `-p ${opts.port} `;
  const target =
    opts.owner && opts.owner !== opts.username ? `${opts.owner}/${opts.instanceName}` : opts.instanceName;
  return {
    menu: `ssh ${port}${opts.username}@${opts.host}`,
    direct: `ssh ${port}${opts.username}+${target}@${opts.host}`,
  };
}
