/**
 * The API as its clients see it — the web app and the CLI import this, and only for types: the router
 * they call and the shapes it answers. It carries no code, so no client ever bundles a server module
 * (database, Docker, SSH, password hashing) by importing it. `test/client-face.test.ts` checks that.
 */
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from './api/router.js';

export type { ErrorCode } from '@tianqi/domain';
export type { AppRouter } from './api/router.js';

/** What each procedure takes, as `RouterInputs['instances']['create']`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** What each procedure answers, as `RouterOutputs['instances']['list']['items'][number]`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
/** An instance as lists and watches show it. */
export type InstanceView = RouterOutputs['instances']['get'];
/** A node as admins see it. */
export type NodeView = RouterOutputs['nodes']['get'];
