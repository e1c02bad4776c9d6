import type Docker from 'dockerode';

/** A container's inspect answer, or null when Docker has no such container (404). */
export function inspectOrNull(
  docker: Docker,
  containerId: string,
): Promise<Docker.ContainerInspectInfo | null> {
  return docker
    .getContainer(containerId)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return null;
      throw err;
    });
}
