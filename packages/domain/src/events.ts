import { imageEventSchemas } from './images/image.js';
import { instanceEventSchemas } from './instances/instance.js';
import { nameClaimEventSchemas } from './names/name-claim.js';
import { nodeEventSchemas } from './nodes/node.js';
import { specEventSchemas } from './specs/spec.js';
import { unknownLoginEventSchemas, userEventSchemas } from './users/user.js';

/** Every event type the platform records, with the zod schema of its data. */
export const eventSchemas = {
  ...userEventSchemas,
  ...unknownLoginEventSchemas,
  ...imageEventSchemas,
  ...specEventSchemas,
  ...nodeEventSchemas,
  ...instanceEventSchemas,
  ...nameClaimEventSchemas,
};
export type EventSchemaMap = typeof eventSchemas;

/** Every event type by the kind of stream that records it: what an audit filter offers to pick from. */
export const eventTypesByStream = {
  instance: Object.keys(instanceEventSchemas),
  node: Object.keys(nodeEventSchemas),
  user: [...Object.keys(userEventSchemas), ...Object.keys(unknownLoginEventSchemas)],
  image: Object.keys(imageEventSchemas),
  spec: Object.keys(specEventSchemas),
  name: Object.keys(nameClaimEventSchemas),
} as const satisfies Record<string, string[]>;

/** Stream ids: one stream per aggregate. */
export const streams = {
  user: (id: string) => `user-${id}`,
  image: (id: string) => `image-${id}`,
  spec: (id: string) => `spec-${id}`,
  node: (id: string) => `node-${id}`,
  instance: (id: string) => `instance-${id}`,
  /** Failed sign-ins under names no account has. */
  unknownLogins: 'login-unknown',
  /** `key` is a digest of the normalised name, so any name (Chinese too) makes a valid stream id. */
  name: (scope: string, key: string) => `name-${scope}-${key}`,
};
