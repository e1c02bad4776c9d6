import { describe, expect, it } from 'vitest';
import { DescriptorBudgetError, openFileLimit, sshConnectionBudget } from '../src/jumpbox/descriptors.js';
import { StartError } from '../src/start-error.js';

const limits = (soft: string, hard = soft) =>
  `Limit                     Soft Limit           Hard Limit           Units     \nMax open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     \n`;

describe('the SSH descriptor budget', () => {
  it('reads the soft open-file limit of the process', () => {
    expect(openFileLimit(limits('20000'))).toBe(20_000);
    expect(openFileLimit(limits('1024', '4096'))).toBe(1024);
    expect(openFileLimit(limits('unlimited'))).toBe(1_048_576);
    expect(openFileLimit('nothing here')).toBe(1024);
    // This process's own, as Linux tells it.
    expect(openFileLimit()).toBeGreaterThan(0);
  });

  it('keeps half the descriptors (at least 256) for HTTP and the database, 11 per SSH connection (its socket, 10 sessions)', () => {
    expect(sshConnectionBudget(20_000, 0)).toBe(909);
    expect(sshConnectionBudget(1024, 0)).toBe(46);
    expect(sshConnectionBudget(400, 0)).toBe(13);
    expect(sshConnectionBudget(20_000, 300)).toBe(300);
  });

  it('refuses a configured budget the limit cannot hold, and a limit too small for any', () => {
    expect(() => sshConnectionBudget(1024, 300)).toThrow(DescriptorBudgetError);
    expect(() => sshConnectionBudget(1024, 300)).toThrow(StartError);
    expect(() => sshConnectionBudget(1024, 300)).toThrow(/jumpbox\.max-connections is 300.*at most 46/);
    expect(() => sshConnectionBudget(256, 0)).toThrow(/ulimit -n/);
  });
});
