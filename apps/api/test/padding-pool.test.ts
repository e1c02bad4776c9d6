import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { poolPadding } from '../src/jumpbox/padding-pool.js';

const require = createRequire(import.meta.url);
const sshCrypto = require('ssh2/lib/protocol/crypto.js');

describe("the jumpbox's SSH packet padding", () => {
  it('is drawn from a pool for the default cipher, laid out as SSH requires, and random', () => {
    // Applied, not silently skipped: an ssh2 upgrade that changes its cipher classes shows up here.
    expect(poolPadding()).toBe('applied');
    const info = sshCrypto.CIPHER_INFO['chacha20-poly1305@openssh.com'];
    const cipher = sshCrypto.createCipher({
      outbound: { onWrite: () => {}, cipherInfo: info, cipherKey: Buffer.alloc(info.keyLen), seqno: 0 },
    });
    const paddings = new Set<string>();
    for (let payload = 0; payload < 600; payload++) {
      const packet: Buffer = cipher.allocPacket(payload);
      const length = packet.readUInt32BE(0);
      const padLen = packet[4]!;
      // RFC 4253 §6: at least 4 bytes of padding; with chacha20-poly1305@openssh.com the length field
      // is not counted in the multiple of 8; then the 16-byte MAC.
      expect(padLen).toBeGreaterThanOrEqual(4);
      expect(padLen).toBeLessThanOrEqual(11);
      expect(length).toBe(1 + payload + padLen);
      expect(length % 8).toBe(0);
      expect(packet.length).toBe(4 + length + 16);
      paddings.add(packet.subarray(5 + payload, 5 + payload + padLen).toString('hex'));
    }
    // 600 paddings of 4 to 11 random bytes: no two alike (a repeat is under a one-in-a-million chance).
    expect(paddings.size).toBe(600);
    cipher.free();
  });
});
