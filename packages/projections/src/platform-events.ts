import { fileURLToPath } from 'node:url';
import { type EventSchemaMap, eventSchemas } from '@tianqi/domain';
import { defineEvents, type EventStore, type MigrationSet, type StoredEvent } from '@tianqi/events';

/** The registry of every platform event: what the store checks each event against. */
export const platformEvents = defineEvents(eventSchemas);
export type PlatformStore = EventStore<EventSchemaMap>;
export type PlatformEvent = StoredEvent<EventSchemaMap>;

export const projectionMigrations: MigrationSet = {
  component: 'projections',
  directory: fileURLToPath(new URL('../migrations/', import.meta.url)),
};
