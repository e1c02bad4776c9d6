import {
  AddCircleOutline,
  AlbumsOutline,
  CubeOutline,
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
  nodes: ServerOutline,
  overview: PulseOutline,
  images: LayersOutline,
  specs: AlbumsOutline,
  users: PeopleOutline,
};

export const renderIcon = (name: string) => () =>
  h(NIcon, null, { default: () => h(ICONS[name] ?? CubeOutline) });
