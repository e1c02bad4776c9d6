/**
 * Why an image could not be pulled, as a sentence first (not found, access denied, registry
 * unreachable) with Docker's own words kept after it: what an instance's history and its owner show.
 */
export function describePullFailure(address: string, raw: string): string {
  const docker = raw.trim().slice(0, 700);
  let what: string;
  if (/pull access denied|may require 'docker login'/i.test(docker)) {
    // What Docker Hub answers for a repository that does not exist as well as for a private one.
    what = 'not found, or its registry refuses access (a private image needs the node to be logged in to it)';
  } else if (/unauthorized|authentication required|denied|forbidden|\b40[13]\b/i.test(docker)) {
    what = 'refused: the registry denies access (a private image needs the node to be logged in to it)';
  } else if (/manifest unknown|not found|does not exist|no such|name unknown|\b404\b/i.test(docker)) {
    what = 'not found: the registry has no such image or tag';
  } else if (
    /connection refused|no such host|i\/o timeout|timeout|network is unreachable|no route to host|dial tcp|TLS handshake|certificate|EOF|connection reset/i.test(
      docker,
    )
  ) {
    what = 'could not be pulled: the registry cannot be reached from the node';
  } else {
    what = 'could not be pulled';
  }
  return `image ${address} ${what} (Docker: ${docker})`;
}
