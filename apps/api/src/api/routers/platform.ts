import { z } from 'zod';
import { router, userProcedure } from '../trpc.js';

/** What a signed-in client needs to know of this installation (the web app's SSH commands). */
export const platformRouter = router({
  info: userProcedure
    .output(z.object({ jumpbox: z.object({ enabled: z.boolean(), port: z.number().int() }) }))
    .query(({ ctx }) => ({
      jumpbox: { enabled: ctx.services.config.jumpbox.enabled, port: ctx.services.config.jumpbox.port },
    })),
});
