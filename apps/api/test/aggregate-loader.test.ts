import { describe, expect, it } from 'vitest';
import { AggregateLoader, aggregates } from '../src/commands/aggregates.js';
import {
  connectedNode,
  image,
  signUp,
  spec,
  system,
  usePlatform,
  watchStreamReads,
} from './platform-fixture.js';

const platform = usePlatform();

/** An instance with a few events on its stream: made, then asked to stop and to start. */
async function instanceWithHistory() {
  const p = platform();
  const owner = await signUp(p, `loader${Math.floor(Math.random() * 1e6)}`);
  const nodeId = await connectedNode(p, { name: `loader-node-${Math.floor(Math.random() * 1e6)}` });
  const imageId = await image(p, {
    name: `loader-img-${Math.floor(Math.random() * 1e6)}`,
    address: 'busybox',
  });
  const specId = await spec(p, {
    name: `loader-cpu-${Math.floor(Math.random() * 1e6)}`,
    gpuCount: 0,
    cpuCores: 0.5,
    memoryGb: 0.5,
    systemDiskGb: 1,
    pricePerHour: 0,
  });
  const { id } = await p.commands.instances.create({ name: 'loaded', imageId, specId, nodeId }, owner);
  await p.commands.instances.request(id, 'StopInstance', system);
  await p.commands.instances.request(id, 'StartInstance', system);
  const events = await p.store.readStream(`instance-${id}`);
  expect(events.length).toBeGreaterThanOrEqual(3);
  return { p, streamId: `instance-${id}`, events };
}

describe("the command side's cache of folds", () => {
  it('folds what the feed shows onto the fold it follows, and begins a new stream from its first event', async () => {
    const { p, streamId, events } = await instanceWithHistory();
    const loader = new AggregateLoader(p.store);
    for (const e of events) loader.followed(aggregates.instance, e);
    const { reads, restore } = watchStreamReads(p.store);
    try {
      const cached = await loader.load(streamId, aggregates.instance, { atLeast: events.length });
      expect(cached.version).toBe(events.length);
      expect(reads).toEqual([]);
      // Asked for more than the feed has shown: read.
      await loader.load(streamId, aggregates.instance, { atLeast: events.length + 1 });
      expect(reads).toEqual([streamId]);
    } finally {
      restore();
    }
  });

  it('a read that comes back after the feed showed a later event is not taken as this process’s fold', async () => {
    const { p, streamId, events } = await instanceWithHistory();
    const loader = new AggregateLoader(p.store);
    const last = events.at(-1)!;
    const readStream = p.store.readStream.bind(p.store);
    // A read that began before the last event committed: it returns the stream without it, and the
    // feed shows that event while the read is under way (with nothing cached, it cannot be folded).
    let slow = true;
    p.store.readStream = async (id, options) => {
      if (!slow) return readStream(id, options);
      slow = false;
      const before = await readStream(id, { ...options, toVersion: last.version - 1 });
      loader.followed(aggregates.instance, last);
      return before;
    };
    try {
      expect((await loader.load(streamId, aggregates.instance)).version).toBe(last.version - 1);
      const again = await loader.load(streamId, aggregates.instance, { cached: true });
      expect(again.version).toBe(last.version);
      expect((await loader.load(streamId, aggregates.instance, { atLeast: 1 })).version).toBe(last.version);
    } finally {
      p.store.readStream = readStream;
    }
  });
});
