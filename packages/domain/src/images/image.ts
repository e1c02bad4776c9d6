import { z } from 'zod';
import { changedFields, changesSchema } from '../shared/changes.js';
import { TianqiError } from '../shared/errors.js';
import type { EventsOf } from '../shared/events.js';
import { displayNameSchema, idSchema, remarkSchema } from '../shared/fields.js';
import { parseOrThrow } from '../shared/parse.js';

/**
 * An image reference as Docker reads it: `[registry[:port]/]path[:tag][@sha256:digest]`, lowercase
 * path components. Checked here so a typo fails at registration, not at the first pull.
 */
export const imageAddressSchema = z
  .string()
  .trim()
  .max(255, 'an image address is at most 255 characters')
  .regex(
    /^(?:[a-zA-Z0-9.-]+(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    'an image address looks like "registry.example.com/team/pytorch:2.3-cuda12" (lowercase, optional tag)',
  );

export const imageShape = {
  name: displayNameSchema,
  address: imageAddressSchema,
  description: z.string().max(2000, 'a description is at most 2000 characters').default(''),
  /** Where the image comes from (官方, 自建, a registry name…): free text for admins. */
  source: z.string().max(200).default(''),
  listed: z.boolean().default(true),
  /** The image carries what HAMi slicing needs, so sliced specs may use it. */
  supportsSlicing: z.boolean().default(false),
  remark: remarkSchema,
};
const imageFieldsSchema = z.object(imageShape);
export type ImageFields = z.output<typeof imageFieldsSchema>;

export const imageCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RegisterImage'), imageId: idSchema, ...imageShape }),
  z.object({
    type: z.literal('UpdateImage'),
    changes: changesSchema(imageShape),
  }),
  z.object({ type: z.literal('DeleteImage') }),
]);
export type ImageCommand = z.input<typeof imageCommandSchema>;

export const imageEventSchemas = {
  ImageRegistered: imageFieldsSchema.extend({ imageId: z.string() }),
  ImageUpdated: z.object({ changes: changesSchema(imageShape) }),
  ImageDeleted: z.object({}),
};
export type ImageEvent = EventsOf<typeof imageEventSchemas>;

export interface ImageState extends ImageFields {
  exists: boolean;
  deleted: boolean;
  imageId: string;
}

export const initialImageState: ImageState = {
  exists: false,
  deleted: false,
  imageId: '',
  ...imageFieldsSchema.parse({ name: '-', address: 'none' }),
};

export function decideImage(input: ImageCommand, state: ImageState): ImageEvent[] {
  const command = parseOrThrow(imageCommandSchema, input);
  if (command.type === 'RegisterImage') {
    if (state.exists) throw new TianqiError('conflict', `image ${command.imageId} already exists`);
    const { type: _type, ...data } = command;
    return [{ type: 'ImageRegistered', data }];
  }
  if (!state.exists || state.deleted) throw new TianqiError('not_found', 'no such image');
  if (command.type === 'DeleteImage') return [{ type: 'ImageDeleted', data: {} }];
  const changes = changedFields(state, command.changes);
  return Object.keys(changes).length === 0 ? [] : [{ type: 'ImageUpdated', data: { changes } }];
}

export function evolveImage(state: ImageState, event: ImageEvent): ImageState {
  switch (event.type) {
    case 'ImageRegistered':
      return { ...state, exists: true, ...event.data };
    case 'ImageUpdated':
      return { ...state, ...event.data.changes };
    case 'ImageDeleted':
      return { ...state, deleted: true, listed: false };
  }
}
