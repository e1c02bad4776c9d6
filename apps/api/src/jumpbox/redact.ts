/**
 * A command line as kept in the audit log: values that look like secrets are replaced with `***`. The
 * log keeps what was run, for good, and shows it to the instance's owner and to admins, so a password
 * typed as an argument (`mysql -pSECRET`, `curl -H 'Authorization: Bearer …'`) must not go in with it.
 * Best effort: it knows the common shapes, not every program's flags.
 */
const PATTERNS: [RegExp, string][] = [
  // --password=x, --token x, password=x, api_key: x, client-secret=x, …
  [
    /((?:--?)?[\w-]*(?:passw(?:or)?d|passwd|secret|token|api[_-]?key|access[_-]?key)[\w-]*\s*[=:]\s*|--(?:password|token|secret)\s+)("[^"]*"|'[^']*'|\S+)/gi,
    '$1***',
  ],
  // Environment assignments: DB_PASSWORD=x, AWS_SECRET_ACCESS_KEY=x, GITHUB_TOKEN=x
  [/\b([A-Z][A-Z0-9_]*(?:PASS|SECRET|TOKEN|KEY)[A-Z0-9_]*=)("[^"]*"|'[^']*'|\S+)/g, '$1***'],
  // Authorization headers and bearer tokens
  [/(authorization:\s*(?:basic|bearer|token)?\s*)([^\s'"]+)/gi, '$1***'],
  [/(\bbearer\s+)([^\s'"]+)/gi, '$1***'],
  // user:password@host in URLs
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)([^@\s/]+)(@)/gi, '$1***$3'],
  // mysql's -pSECRET (the password stuck to the flag)
  [/(\bmysql(?:dump|admin)?\b[^|;&]*?\s-p)(\S+)/g, '$1***'],
];

export function redactCommand(command: string): string {
  let out = command;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}
