/**
 * Why an image could not be pulled, as a sentence first (not found, access denied, registry
 * unreachable) with Docker's own words kept after it: what an instance's history and its owner show.
 */
export function describePullFailure(address: string, raw: string): string {
  const docker = raw.trim().slice(0, 700);
  let what: string;
  // The network first: a registry whose host cannot be found says "no such host", not "no such image".
  if (
    /connection refused|no such host|i\/o timeout|timeout|network is unreachable|no route to host|TLS handshake|certificate|EOF|connection reset|server misbehaving/i.test(
      docker,
    )
  ) {
    what = 'could not be pulled: the registry cannot be reached from the node';
  } else if (/pull access denied|may require 'docker login'/i.test(docker)) {
    // What Docker Hub answers for a repository that does not exist as well as for a private one.
    what = 'not found, or its registry refuses access (a private image needs the node to be logged in to it)';
  } else if (/unauthorized|authentication required|denied|forbidden|\b40[13]\b/i.test(docker)) {
    what = 'refused: the registry denies access (a private image needs the node to be logged in to it)';
  } else if (
    /manifest unknown|not found|does not exist|name unknown|no such (image|repository)|\b404\b/i.test(docker)
  ) {
    what = 'not found: the registry has no such image or tag';
  } else {
    what = 'could not be pulled';
  }
  return `image ${address} ${what} (Docker: ${docker})`;
}
