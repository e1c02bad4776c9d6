import { describe, expect, it } from 'vitest';
import { decideUser, evolveUser, initialUserState, type UserEvent } from '../src/index.js';
import { givenFor } from './given.js';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA';
const HASH2 = '$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNob3RoZXJoYXNo';
const ED25519 =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOH39ltyBQNfVocv9jtYwbamkuf8EDCPfU5KR4csj+7 alice@laptop';
const RSA =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCUG7nxMLzimE1bQ3Ef8e5/pXAWcrw1U/X47+MERyI1DnL0gfQ5nn/rdh2eh9W3TTiW02B3/OjMALFErjowfj/WRxSV6suKIzB7U7JNPTdmURC/TQ8QRPiD3tjpUMVnz3tCPhShAVAiTS9+Sg8qIo9pbnYrxziVIH7m6XSxZAUAV1iOaeQibVBwOuu8KcVtJ6PLfEObNHWn2Aa2ZHMa/apguRfiDKCw/cT5QPVEVHBTjhqEIbgCQsOrOZyoNwRVJeaEuhW785rrLbVAtolsJTmusv5RxXbMcLCGT8nV3o71MMCJGQsSmcLbtS4NgKa9Mp73EAPSNxvYwGF7bd8bjZvh bob';

const registered: UserEvent = {
  type: 'UserRegistered',
  data: { userId: 'alice00001', username: 'alice', role: 'user', passwordHash: HASH },
};
const keyAdded: UserEvent = {
  type: 'SshKeyAdded',
  data: {
    algorithm: 'ssh-ed25519',
    key: 'AAAAC3NzaC1lZDI1NTE5AAAAIHOH39ltyBQNfVocv9jtYwbamkuf8EDCPfU5KR4csj+7',
    comment: 'alice@laptop',
    // as `ssh-keygen -lf` prints it for this key
    fingerprint: 'SHA256:F91MDImiSeJtECHSiMcqmU3fcMYaVj6espT2VCSMauQ',
  },
};
const given = givenFor(decideUser, evolveUser, initialUserState);

describe('user', () => {
  it('given nothing, when registered with an argon2id hash, then UserRegistered (role user by default)', () => {
    given()
      .when({ type: 'RegisterUser', userId: 'alice00001', username: 'alice', passwordHash: HASH })
      .thenEvents([registered]);
  });

  it('refuses a plaintext or non-argon2id password, a bad username, and a second registration', () => {
    const base = { type: 'RegisterUser', userId: 'alice00001', username: 'alice' } as const;
    given()
      .when({ ...base, passwordHash: 'hunter22' })
      .refused('validation', /passwordHash: a password must be stored as an argon2id hash/);
    given()
      .when({ ...base, passwordHash: '$argon2i$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA' })
      .refused('validation', /argon2id/);
    given()
      .when({ ...base, username: 'Alice+gpu', passwordHash: HASH })
      .refused('validation', /username: a username is 2–32 lowercase letters/);
    given(registered)
      .when({ ...base, passwordHash: HASH })
      .refused('conflict', /alice already exists/);
  });

  it('changes the password and the role; the same role again records nothing', () => {
    given(registered)
      .when({ type: 'ChangePassword', passwordHash: HASH2 })
      .thenEvents([{ type: 'PasswordChanged', data: { passwordHash: HASH2 } }]);
    given(registered)
      .when({ type: 'ChangeRole', role: 'admin' })
      .thenEvents([{ type: 'RoleChanged', data: { role: 'admin' } }]);
    given(registered).when({ type: 'ChangeRole', role: 'user' }).thenEvents([]);
    given(registered)
      .when({ type: 'ChangeRole', role: 'root' as 'admin' })
      .refused('validation', /role/);
  });

  it('disables and enables, each once', () => {
    const disabled: UserEvent = { type: 'UserDisabled', data: {} };
    given(registered).when({ type: 'DisableUser' }).thenEvents([disabled]);
    given(registered, disabled).when({ type: 'DisableUser' }).thenEvents([]);
    given(registered, disabled)
      .when({ type: 'EnableUser' })
      .thenEvents([{ type: 'UserEnabled', data: {} }]);
    given(registered).when({ type: 'EnableUser' }).thenEvents([]);
    expect(given(registered, disabled).state.disabled).toBe(true);
  });

  it('adds an SSH key with the fingerprint ssh-keygen prints; refuses it twice, and refuses junk', () => {
    given(registered)
      .when({ type: 'AddSshKey', publicKey: ` ${ED25519}\n` })
      .thenEvents([keyAdded]);
    given(registered, keyAdded)
      .when({ type: 'AddSshKey', publicKey: ED25519 })
      .refused('conflict', /already registered/);
    const rsa = given(registered).when({ type: 'AddSshKey', publicKey: RSA }).events()[0];
    expect(rsa?.data).toMatchObject({
      fingerprint: 'SHA256:PL8Ydsxj/OB6T8fxXgL30XcysTSjvN3aTqssWHG4z/g',
      comment: 'bob',
    });
    given(registered)
      .when({ type: 'AddSshKey', publicKey: '-----BEGIN OPENSSH PRIVATE KEY-----' })
      .refused('validation', /one line like "ssh-ed25519 AAAA… comment"/);
    given(registered)
      .when({ type: 'AddSshKey', publicKey: ED25519.replace('ssh-ed25519', 'ssh-rsa') })
      .refused('validation', /ssh-rsa key is damaged or incomplete/);
    given(registered)
      .when({ type: 'AddSshKey', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOH' })
      .refused('validation', /damaged or incomplete/);
  });

  it('removes a key it has, and says so for one it does not', () => {
    given(registered, keyAdded)
      .when({ type: 'RemoveSshKey', fingerprint: keyAdded.data.fingerprint as string })
      .thenEvents([
        {
          type: 'SshKeyRemoved',
          data: { fingerprint: 'SHA256:F91MDImiSeJtECHSiMcqmU3fcMYaVj6espT2VCSMauQ' },
        },
      ]);
    given(registered)
      .when({ type: 'RemoveSshKey', fingerprint: 'SHA256:nope' })
      .refused('not_found', /no SSH key/);
  });

  it('records sign-ins, good and bad, with the channel and method; a disabled user still gets the record', () => {
    given(registered)
      .when({ type: 'RecordLogin', succeeded: true, via: 'web', method: 'password' })
      .thenEvents([{ type: 'LoginSucceeded', data: { via: 'web', method: 'password' } }]);
    given(registered, { type: 'UserDisabled', data: {} })
      .when({
        type: 'RecordLogin',
        succeeded: false,
        via: 'ssh',
        method: 'publickey',
        reason: 'the user is disabled',
      })
      .thenEvents([
        { type: 'LoginFailed', data: { via: 'ssh', method: 'publickey', reason: 'the user is disabled' } },
      ]);
    given(registered)
      .when({ type: 'RecordLogin', succeeded: true, via: 'telnet' as 'web', method: 'password' })
      .refused('validation', /via/);
  });

  it('records a sign-out with the session it ended', () => {
    given(registered)
      .when({ type: 'RecordLogout', sessionId: 'sess-1', via: 'cli' })
      .thenEvents([{ type: 'SignedOut', data: { sessionId: 'sess-1', via: 'cli' } }]);
    given(registered)
      .when({ type: 'RecordLogout', sessionId: '', via: 'cli' })
      .refused('validation', /sessionId/);
  });

  it('refuses every command for a user that does not exist', () => {
    given()
      .when({ type: 'DisableUser' })
      .refused('not_found', /no such user/);
  });
});
