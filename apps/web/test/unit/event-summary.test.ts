import { describe, expect, it } from 'vitest';
import { createI18n } from 'vue-i18n';
import { describeHistoryEvent } from '../../src/lib/event-summary.js';
import en from '../../src/locales/en.js';
import zhCN from '../../src/locales/zh-CN.js';

const i18n = createI18n({ legacy: false, locale: 'zh-CN', messages: { 'zh-CN': zhCN, en } });
const inLanguage = (locale: 'zh-CN' | 'en') => {
  i18n.global.locale.value = locale;
  return (key: string, named?: Record<string, unknown>) => i18n.global.t(key, named ?? {});
};
const entry = (type: string, data: Record<string, unknown>) => ({ type, data, summary: `server: ${type}` });

const created = entry('InstanceCreated', {
  instanceId: 'i1',
  name: 'box1',
  ownerId: 'u1',
  remark: '',
  image: { imageId: 'img1', name: 'pytorch', address: 'registry/pytorch:2' },
  spec: { specId: 's1', name: 'a100x1', pricePerHour: 3 },
  node: { nodeId: 'n1', name: 'gpu-01' },
  allocation: {
    instanceId: 'i1',
    cpuCores: 8,
    memoryGb: 32,
    systemDiskGb: 50,
    dataDiskGb: 100,
    gpus: { kind: 'whole', indices: [0, 1] },
  },
});

describe('a history entry in the reader’s language', () => {
  it('says what was created, from the event’s data', () => {
    expect(describeHistoryEvent(created, inLanguage('zh-CN'))).toBe(
      '创建实例 box1：镜像 pytorch，规格 a100x1，节点 gpu-01，卡 0,1',
    );
    expect(describeHistoryEvent(created, inLanguage('en'))).toBe(
      'created instance box1 from pytorch, spec a100x1, on node gpu-01 with GPU 0,1',
    );
  });

  it('says who stopped it: a person asked, or the platform did and why', () => {
    const asked = entry('InstanceStopRequested', { reason: null });
    const byPlatform = entry('InstanceStopRequested', { reason: 'over its data disk' });
    expect(describeHistoryEvent(asked, inLanguage('zh-CN'))).toBe('请求关机');
    expect(describeHistoryEvent(byPlatform, inLanguage('zh-CN'))).toBe('平台停止了实例：over its data disk');
    expect(describeHistoryEvent(asked, inLanguage('en'))).toBe('asked to stop');
  });

  it('gives the exit code and an out-of-memory kill', () => {
    const oom = entry('ContainerExited', { exitCode: 137, oomKilled: true });
    expect(describeHistoryEvent(oom, inLanguage('zh-CN'))).toBe('容器已退出，退出码 137（内存不足被终止）');
    expect(describeHistoryEvent(oom, inLanguage('en'))).toBe(
      'container exited with code 137 (out of memory)',
    );
    const plain = entry('ContainerExited', { exitCode: null, oomKilled: false });
    expect(describeHistoryEvent(plain, inLanguage('en'))).toBe('container exited');
  });

  it('names the failed phase and the drift kind in words', () => {
    const failed = entry('InstanceFailed', { phase: 'start', reason: 'port in use' });
    expect(describeHistoryEvent(failed, inLanguage('zh-CN'))).toBe('开机失败：port in use');
    expect(describeHistoryEvent(failed, inLanguage('en'))).toBe('start failed: port in use');
    const drift = entry('DriftResolved', { kind: 'wrong_node' });
    expect(describeHistoryEvent(drift, inLanguage('zh-CN'))).toBe('偏差已消除：容器在其他节点上');
    expect(describeHistoryEvent(drift, inLanguage('en'))).toBe('drift resolved: wrong node');
  });

  it('tells a terminal session from an SSH command with its exit code', () => {
    const base = { sessionId: 's', userId: 'u', startedAt: '', endedAt: '', recordingId: null };
    const shell = entry('TerminalSessionEnded', {
      ...base,
      via: 'web',
      ip: null,
      seconds: 12.4,
      command: null,
      exitCode: null,
    });
    const command = entry('TerminalSessionEnded', {
      ...base,
      via: 'ssh',
      ip: '10.0.0.9',
      seconds: 1,
      command: 'nvidia-smi',
      exitCode: 0,
    });
    expect(describeHistoryEvent(shell, inLanguage('zh-CN'))).toBe('网页终端会话，来自 未知地址，12 秒');
    expect(describeHistoryEvent(shell, inLanguage('en'))).toBe(
      'web terminal session from unknown address, 12 s',
    );
    expect(describeHistoryEvent(command, inLanguage('zh-CN'))).toBe(
      'SSH 命令 `nvidia-smi`，来自 10.0.0.9，1 秒，退出码 0',
    );
    expect(describeHistoryEvent(command, inLanguage('en'))).toBe(
      'SSH command `nvidia-smi` from 10.0.0.9, 1 s, exit 0',
    );
  });

  it('gives the node’s allocation with its GPU slice', () => {
    const allocated = entry('ResourcesAllocated', {
      allocation: {
        ...(created.data.allocation as object),
        gpus: { kind: 'slice', indices: [2], vramGb: 10, smPercent: 30 },
      },
    });
    expect(describeHistoryEvent(allocated, inLanguage('zh-CN'))).toBe(
      '已分配 卡 2 切分 10 GB · 30% 算力，8 核，32 GB 内存',
    );
    expect(describeHistoryEvent(allocated, inLanguage('en'))).toContain('allocated');
  });

  it('says the platform is retrying, and when it got through', () => {
    const failed = entry('ReconcileFailed', { reason: 'node unreachable', retryAt: '2026-12-01T00:00:00Z' });
    expect(describeHistoryEvent(failed, inLanguage('zh-CN'))).toBe(
      '平台暂时无法完成，正在重试：node unreachable',
    );
    expect(describeHistoryEvent(entry('ReconcileRecovered', {}), inLanguage('en'))).toBe(
      'the platform got through again',
    );
  });

  it('shows the server’s summary for a type it does not know, or data it cannot read', () => {
    expect(describeHistoryEvent(entry('NodeDrained', {}), inLanguage('zh-CN'))).toBe('server: NodeDrained');
    expect(describeHistoryEvent(entry('InstanceCreated', {}), inLanguage('en'))).toBe(
      'server: InstanceCreated',
    );
  });
});
