import { describe, expect, it } from 'vitest';
import {
  decideInstance,
  evolveInstance,
  type InstanceCommand,
  type InstanceEvent,
  initialInstanceState,
} from '../src/index.js';

const create = {
  type: 'CreateInstance',
  instanceId: 'i-1',
  name: 'train_01',
  imageId: 'img',
  specId: 'spec',
  nodeId: 'node',
  ownerId: 'alice',
} as const satisfies InstanceCommand;
const { type: _create, ...createdData } = create;
const created: InstanceEvent = { type: 'InstanceCreated', data: { ...createdData, remark: '' } };

/** given events, when command: the events decided (or the refusal thrown). */
function given(...events: InstanceEvent[]) {
  const state = events.reduce(evolveInstance, initialInstanceState);
  return { when: (command: InstanceCommand) => () => decideInstance(command, state), state };
}
const stopped: InstanceEvent = { type: 'InstanceStopRequested', data: {} };
const deleted: InstanceEvent = { type: 'InstanceDeleteRequested', data: {} };

describe('instance', () => {
  it('given nothing, when created, then InstanceCreated, wanted running, seen creating', () => {
    expect(given().when(create)()).toEqual([created]);
    expect(given(created).state).toMatchObject({
      desired: 'running',
      observed: 'creating',
      ownerId: 'alice',
    });
  });

  it('refuses a bad name with a clear error, and a second create', () => {
    expect(given().when({ ...create, name: '训练 1' })).toThrow(/an instance name is 1–63 letters, digits/);
    expect(given().when({ ...create, name: 'x'.repeat(64) })).toThrow(/name/);
    expect(given(created).when(create)).toThrow(/already exists/);
  });

  it('given running, when stopped, then StopRequested; stopping again decides nothing', () => {
    expect(given(created).when({ type: 'StopInstance' })()).toEqual([stopped]);
    expect(given(created, stopped).when({ type: 'StopInstance' })()).toEqual([]);
  });

  it('given stopped, when started, then StartRequested; when restarted, it starts', () => {
    const start = [{ type: 'InstanceStartRequested', data: {} }];
    expect(given(created, stopped).when({ type: 'StartInstance' })()).toEqual(start);
    expect(given(created, stopped).when({ type: 'RestartInstance' })()).toEqual(start);
    expect(given(created).when({ type: 'RestartInstance' })()).toEqual([
      { type: 'InstanceRestartRequested', data: {} },
    ]);
  });

  it('given deleted, refuses start, stop, restart and delete', () => {
    for (const type of ['StartInstance', 'StopInstance', 'RestartInstance', 'DeleteInstance'] as const) {
      expect(given(created, deleted).when({ type })).toThrow(/is deleted/);
    }
  });

  it('deletes from any live state, and refuses commands for an instance that does not exist', () => {
    expect(given(created).when({ type: 'DeleteInstance' })()).toEqual([deleted]);
    expect(given(created, stopped).when({ type: 'DeleteInstance' })()).toEqual([deleted]);
    expect(given().when({ type: 'StartInstance' })).toThrow(/no such instance/);
  });
});
