import { describe, expect, it } from 'vitest';
import {
  decideImage,
  decideSpec,
  evolveImage,
  evolveSpec,
  type ImageEvent,
  initialImageState,
  initialSpecState,
  type SpecCommand,
  type SpecEvent,
} from '../src/index.js';
import { givenFor } from './given.js';

describe('image (镜像库)', () => {
  const given = givenFor(decideImage, evolveImage, initialImageState);
  const registered: ImageEvent = {
    type: 'ImageRegistered',
    data: {
      imageId: 'image00001',
      name: 'PyTorch 2.3',
      address: 'registry.example.com:5000/ai/pytorch:2.3-cuda12.1',
      description: '',
      source: '官方',
      listed: true,
      supportsSlicing: false,
      remark: '',
    },
  };

  it('registers an image, listed by default', () => {
    given()
      .when({
        type: 'RegisterImage',
        imageId: 'image00001',
        name: 'PyTorch 2.3',
        address: 'registry.example.com:5000/ai/pytorch:2.3-cuda12.1',
        source: '官方',
      })
      .thenEvents([registered]);
  });

  it('refuses an address Docker could not pull, and an empty name', () => {
    const base = { type: 'RegisterImage', imageId: 'image00001', name: 'x' } as const;
    given()
      .when({ ...base, address: 'PyTorch:latest' })
      .refused('validation', /address: an image address looks like/);
    given()
      .when({ ...base, address: 'pytorch/pytorch:2.3 cuda' })
      .refused('validation', /address/);
    given()
      .when({ ...base, name: '  ', address: 'busybox' })
      .refused('validation', /name: a name is required/);
  });

  it('updates only what changed; unlisting is an update; an update that changes nothing records nothing', () => {
    given(registered)
      .when({ type: 'UpdateImage', changes: { listed: false, name: 'PyTorch 2.3' } })
      .thenEvents([{ type: 'ImageUpdated', data: { changes: { listed: false } } }]);
    given(registered)
      .when({ type: 'UpdateImage', changes: { source: '官方' } })
      .thenEvents([]);
    given(registered)
      .when({ type: 'UpdateImage', changes: {} })
      .refused('validation', /nothing to change/);
  });

  it('deletes once; a deleted image is gone for every command', () => {
    const deleted: ImageEvent = { type: 'ImageDeleted', data: {} };
    given(registered).when({ type: 'DeleteImage' }).thenEvents([deleted]);
    given(registered, deleted)
      .when({ type: 'DeleteImage' })
      .refused('not_found', /no such image/);
    given()
      .when({ type: 'UpdateImage', changes: { listed: true } })
      .refused('not_found', /no such image/);
  });
});

describe('spec (产品规格)', () => {
  const given = givenFor(decideSpec, evolveSpec, initialSpecState);
  const create = {
    type: 'CreateSpec',
    specId: 'spec000001',
    name: 'RTX 4090 ×1',
    gpuModel: 'RTX 4090',
    gpuCount: 1,
    vramGb: 24,
    cpuCores: 8,
    memoryGb: 32,
    systemDiskGb: 50,
    dataDiskGb: 100,
    pricePerHour: 2.8,
  } as const satisfies SpecCommand;
  const { type: _t, ...fields } = create;
  const created: SpecEvent = {
    type: 'SpecCreated',
    data: { ...fields, slice: false, listed: true, remark: '' },
  };

  it('creates a GPU spec and a CPU-only one (no model, no VRAM)', () => {
    given().when(create).thenEvents([created]);
    const cpu = given()
      .when({ ...create, gpuModel: 'ignored', gpuCount: 0, vramGb: 0 })
      .events()[0];
    expect(cpu?.data).toMatchObject({ gpuCount: 0, gpuModel: null });
  });

  it('refuses a GPU spec without its model, a CPU slice, and numbers out of bounds, naming each field', () => {
    given()
      .when({ ...create, gpuModel: null })
      .refused('validation', /gpuModel: a GPU model is required when the GPU count is above 0/);
    given()
      .when({ ...create, gpuCount: 0, vramGb: 0, slice: true })
      .refused('validation', /slice: a CPU-only spec cannot be a GPU slice/);
    given()
      .when({ ...create, cpuCores: 0 })
      .refused('validation', /cpuCores: CPU cores must be at least 0.5/);
    given()
      .when({ ...create, gpuCount: 1.5 })
      .refused('validation', /gpuCount: GPU count must be a whole number/);
    given()
      .when({ ...create, pricePerHour: -1 })
      .refused('validation', /pricePerHour: price per hour must be at least 0/);
    given()
      .when({ ...create, memoryGb: Number.NaN })
      .refused('validation', /memoryGb/);
    given()
      .when({ ...create, gpuCount: 17 })
      .refused('validation', /at most 16/);
  });

  it('updates, re-checking the whole spec: removing the model of a GPU spec is refused', () => {
    given(created)
      .when({ type: 'UpdateSpec', changes: { pricePerHour: 3.2, listed: false } })
      .thenEvents([{ type: 'SpecUpdated', data: { changes: { pricePerHour: 3.2, listed: false } } }]);
    given(created)
      .when({ type: 'UpdateSpec', changes: { gpuModel: null } })
      .refused('validation', /GPU model is required/);
  });

  it('deletes, after which the spec is gone; a second create of the same id is refused', () => {
    given(created)
      .when({ type: 'DeleteSpec' })
      .thenEvents([{ type: 'SpecDeleted', data: {} }]);
    given(created, { type: 'SpecDeleted', data: {} })
      .when({ type: 'DeleteSpec' })
      .refused('not_found', /no such spec/);
    given(created)
      .when(create)
      .refused('conflict', /already exists/);
  });
});
