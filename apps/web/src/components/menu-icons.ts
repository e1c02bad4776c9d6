import {
  AddCircleOutline,
  AlbumsOutline,
  BarChartOutline,
  CubeOutline,
  DocumentTextOutline,
  GitCompareOutline,
  LayersOutline,
  PeopleOutline,
  PersonCircleOutline,
  PulseOutline,
  ServerOutline,
} from '@vicons/ionicons5';
import { NIcon } from 'naive-ui';
import { type Component, h } from 'vue';

/** The icons routes name in their meta. */
const ICONS: Record<string, Component> = {
  instances: CubeOutline,
  create: AddCircleOutline,
  account: PersonCircleOutline,
  images: LayersOutline,
  specs: AlbumsOutline,
  users: PeopleOutline,
  nodes: ServerOutline,
  overview: PulseOutline,
  drift: GitCompareOutline,
  audit: DocumentTextOutline,
  usage: BarChartOutline,
};

export const renderIcon = (name: string) => () =>
  h(NIcon, null, { default: () => h(ICONS[name] ?? CubeOutline) });
