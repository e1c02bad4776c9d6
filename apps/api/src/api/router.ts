import { auditRouter, driftRouter, usageRouter } from './routers/audit.js';
import { authRouter } from './routers/auth.js';
import { imagesRouter, specsRouter } from './routers/catalog.js';
import { fleetRouter } from './routers/fleet.js';
import { instancesRouter } from './routers/instances.js';
import { nodesRouter } from './routers/nodes.js';
import { platformRouter } from './routers/platform.js';
import { usersRouter } from './routers/users.js';
import { router } from './trpc.js';

/** The whole API, one router per capability. */
export const appRouter = router({
  auth: authRouter,
  users: usersRouter,
  images: imagesRouter,
  specs: specsRouter,
  nodes: nodesRouter,
  instances: instancesRouter,
  audit: auditRouter,
  drift: driftRouter,
  usage: usageRouter,
  platform: platformRouter,
  fleet: fleetRouter,
});

export type AppRouter = typeof appRouter;
