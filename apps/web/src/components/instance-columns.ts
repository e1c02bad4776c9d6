import type { InstanceView } from '@tianqi/api/client';
import type { DataTableColumns } from 'naive-ui';
import { h } from 'vue';
import type { ComposerTranslation } from 'vue-i18n';
import { RouterLink } from 'vue-router';
import GpuCell from './GpuCell.vue';
import StateTag from './StateTag.vue';

/** The columns of an admin's short list of instances (a node's, a user's): each name links to its page. */
export function instanceColumns(t: ComposerTranslation): DataTableColumns<InstanceView> {
  return [
    {
      key: 'name',
      title: t('instances.columns.name'),
      render: (i) =>
        h(
          RouterLink,
          {
            to: { name: 'instance', params: { instanceId: i.instanceId } },
            'data-test': `instance-${i.name}`,
          },
          () => i.name,
        ),
    },
    { key: 'state', title: t('instances.columns.state'), render: (i) => h(StateTag, { instance: i }) },
    {
      key: 'gpus',
      title: t('instances.columns.gpus'),
      render: (i) =>
        h(GpuCell, { allocation: i.allocation, model: (i.spec.gpuModel as string | null) ?? null }),
    },
    { key: 'specName', title: t('instances.columns.spec') },
  ];
}
