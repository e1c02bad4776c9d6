import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import StateTag from '../../src/components/StateTag.vue';
import { momentAt, sliderMarks } from '../../src/lib/time-slider.js';
import { i18n } from '../../src/locales/index.js';

describe('the history’s time slider', () => {
  const times = [Date.UTC(2026, 11, 1, 8, 0), Date.UTC(2026, 11, 1, 8, 5), Date.UTC(2026, 11, 1, 9, 30)];

  it('stops at each event: the moment shown is just after it was recorded (to the microsecond)', () => {
    expect(momentAt(times, 0)).toBe(times[0]! + 1);
    expect(momentAt(times, 1.4)).toBe(times[1]! + 1);
    expect(momentAt(times, 99)).toBe(times[2]! + 1);
    expect(momentAt([], 0)).toBeNull();
  });

  it('marks the first and the last moment only', () => {
    expect(sliderMarks(times)).toEqual({ 0: '08:00', 2: '09:30' });
    expect(sliderMarks(times.slice(0, 1))).toEqual({});
  });
});

describe('an instance’s state', () => {
  it('shows what Docker reports and, while they differ, what the user asked for', () => {
    i18n.global.locale.value = 'en';
    const tag = mount(StateTag, {
      props: { instance: { desired: 'stopped', observed: 'running', failure: null } },
      global: { plugins: [i18n] },
    });
    expect(tag.text()).toContain('Running');
    expect(tag.text()).toContain('wants stopped');
    const settled = mount(StateTag, {
      props: { instance: { desired: 'running', observed: 'running', failure: null } },
      global: { plugins: [i18n] },
    });
    expect(settled.text()).not.toContain('wants');
  });
});
