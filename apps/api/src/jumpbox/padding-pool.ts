import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';

/**
 * ssh2 gives every outgoing packet's random padding (4 to 11 bytes) a `crypto.randomFillSync` call of
 * its own. Each call's fixed cost (a job object per call) was about a sixth of the jumpbox's CPU when
 * copying a large file: 100 MB is some 3,000 packets. With the cipher OpenSSH clients choose by
 * default (chacha20-poly1305, with ssh2's native binding), padding is drawn here instead from a 4 KiB
 * block filled by the same CSPRNG, every byte used once, so the padding is as random as before.
 *
 * This replaces one method of a class ssh2 does not export, found through its own `createCipher`: if
 * ssh2 changes shape, nothing is replaced and `poolPadding` says so (a test checks it is applied).
 */
export function poolPadding(): 'applied' | 'not-applicable' {
  if (applied) return 'applied';
  const require = createRequire(import.meta.url);
  let proto: { allocPacket?: unknown; constructor: { name: string } };
  try {
    const crypto = require('ssh2/lib/protocol/crypto.js') as SshCrypto;
    const info = crypto.CIPHER_INFO['chacha20-poly1305@openssh.com'];
    if (!info) return 'not-applicable';
    const sample = crypto.createCipher({
      outbound: { onWrite: () => {}, cipherInfo: info, cipherKey: Buffer.alloc(info.keyLen), seqno: 0 },
    });
    proto = Object.getPrototypeOf(sample);
    sample.free?.();
  } catch {
    return 'not-applicable';
  }
  // Only the binding-backed class, whose packets are laid out as below; not ssh2's pure-JS fallback.
  if (proto.constructor.name !== 'ChaChaPolyCipherBinding' || typeof proto.allocPacket !== 'function')
    return 'not-applicable';
  const pool = { bytes: Buffer.alloc(0), at: 0 };
  proto.allocPacket = function allocPacket(payloadLen: number): Buffer {
    // As ssh2 lays it out: length (4), padding length (1), payload, padding to a multiple of 8 (the
    // length field not counted, at least 4), then room for the 16-byte MAC.
    let pktLen = 4 + 1 + payloadLen;
    let padLen = 8 - ((pktLen - 4) & 7);
    if (padLen < 4) padLen += 8;
    pktLen += padLen;
    const packet = Buffer.allocUnsafe(pktLen + 16);
    packet.writeUInt32BE(pktLen - 4, 0);
    packet[4] = padLen;
    if (pool.at + padLen > pool.bytes.length) {
      pool.bytes = randomFillSync(Buffer.allocUnsafe(4096));
      pool.at = 0;
    }
    pool.bytes.copy(packet, 5 + payloadLen, pool.at, pool.at + padLen);
    pool.at += padLen;
    return packet;
  };
  applied = true;
  return 'applied';
}

let applied = false;

/** The parts of ssh2's internal crypto module used above. */
interface SshCrypto {
  CIPHER_INFO: Record<string, { keyLen: number } | undefined>;
  createCipher(config: {
    outbound: { onWrite: (packet: Buffer) => void; cipherInfo: unknown; cipherKey: Buffer; seqno: number };
  }): { free?: () => void };
}
