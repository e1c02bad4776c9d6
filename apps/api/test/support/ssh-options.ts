/** The real `ssh` client's options for a test jumpbox on loopback: a password, no host-key memory. */
export const sshClientOptions = (port: number): string[] => [
  '-p',
  String(port),
  ...[
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    'LogLevel=ERROR',
    'PreferredAuthentications=password',
  ].flatMap((option) => ['-o', option]),
];
